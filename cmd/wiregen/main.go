// Command wiregen generates package wire (shapes, enums, validation, routes
// and exceptions) from the pinned AppFlow service model. It refuses any shape
// type, trait or constraint it does not handle, so the generated code never
// silently drops part of the model.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

func main() {
	model := flag.String("model", "", "botocore JSON service model")
	out := flag.String("out", ".", "output directory (package wire)")
	flag.Parse()
	if err := run(*model, *out); err != nil {
		fmt.Fprintln(os.Stderr, "wiregen:", err)
		os.Exit(1)
	}
}

func run(modelPath, outDir string) error {
	if modelPath == "" {
		return fmt.Errorf("-model is required")
	}
	m, err := loadModel(modelPath)
	if err != nil {
		return fmt.Errorf("load %s: %w", modelPath, err)
	}
	files, err := generate(m)
	if err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(outDir, n), files[n], 0o644); err != nil {
			return err
		}
	}
	return nil
}
