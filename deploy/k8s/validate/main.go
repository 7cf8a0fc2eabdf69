// Command validate checks the platform's Kubernetes manifests offline, without a cluster.
//
// For each kustomize directory it is given it builds the manifests with kustomize's own
// library (what `kubectl apply -k` runs), decodes every object strictly into its Kubernetes
// API type (k8s.io/api; an unknown, misspelt or duplicate field is an error, as the API
// server's strict field validation would answer), decodes the operators' custom resources
// into local mirrors of the fields the manifests use (also strictly), and checks the
// invariants in checks.go. Every problem is printed on its own line; the exit status is 1 if
// there was any.
//
//	go run . [-external FILE]... [-print] DIR...
//
// -external names manifests applied separately (the secret template): they are decoded and
// checked the same way, and references to them count, but they are not part of a build.
// -print writes each build's YAML to standard output (what `kubectl apply -k` would send).
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"strings"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var externals listFlag
	flag.Var(&externals, "external", "manifests applied separately (repeatable)")
	printBuild := flag.Bool("print", false, "write each build's YAML to standard output")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: validate [-external FILE]... [-print] KUSTOMIZATION_DIR...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}

	var external []rawObject
	failed := false
	for _, path := range externals {
		objs, err := readManifestFile(path)
		if err != nil {
			fmt.Printf("%s: %v\n", path, err)
			failed = true
			continue
		}
		external = append(external, objs...)
	}
	for _, dir := range flag.Args() {
		objs, err := build(dir)
		if err != nil {
			fmt.Printf("%s: kustomize build: %v\n", dir, err)
			failed = true
			continue
		}
		if *printBuild {
			for _, o := range objs {
				y, _ := yaml.JSONToYAML(o.JSON)
				fmt.Printf("---\n%s", y)
			}
		}
		problems := validate(objs, external)
		for _, p := range problems {
			fmt.Printf("%s: %s\n", dir, p)
		}
		if len(problems) > 0 {
			failed = true
			continue
		}
		fmt.Printf("%s: ok (%d objects)\n", dir, len(objs))
	}
	if failed {
		os.Exit(1)
	}
}

// rawObject is one manifest as JSON, with where it came from.
type rawObject struct {
	Source string
	JSON   []byte
}

func build(dir string) ([]rawObject, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resources, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, err
	}
	var objs []rawObject
	for _, r := range resources.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.CurId(), err)
		}
		j, err := yaml.YAMLToJSON(y)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.CurId(), err)
		}
		objs = append(objs, rawObject{Source: "build", JSON: j})
	}
	return objs, nil
}

func readManifestFile(path string) ([]rawObject, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var objs []rawObject
	for i, doc := range splitDocuments(data) {
		j, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		if bytes.Equal(bytes.TrimSpace(j), []byte("null")) {
			continue // only comments
		}
		objs = append(objs, rawObject{Source: path, JSON: j})
	}
	return objs, nil
}

func splitDocuments(data []byte) [][]byte {
	var docs [][]byte
	var current []string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.TrimRight(line, " \t\r") == "---" {
			docs = append(docs, []byte(strings.Join(current, "\n")))
			current = nil
			continue
		}
		current = append(current, line)
	}
	return append(docs, []byte(strings.Join(current, "\n")))
}
