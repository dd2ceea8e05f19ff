// Package terraform holds the Azure deployment (*.tf) and its offline check:
// providers cannot be downloaded in tests, so the module is parsed with
// hashicorp/hcl and checked for declarations, references and formatting.
package terraform

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
)

// requiredOutputs are the outputs users need after terraform apply.
var requiredOutputs = []string{"trigger_url", "storage_account", "coordinator_addresses"}

type module struct {
	variables, locals, outputs, resources, data, modules map[string]bool
	refs                                                 []ref
}

type ref struct {
	trav hcl.Traversal
	rng  hcl.Range
}

// checkModule parses every .tf file of dir and returns every problem found.
func checkModule(dir string) []string {
	files, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil || len(files) == 0 {
		return []string{fmt.Sprintf("no .tf files in %s (%v)", dir, err)}
	}
	sort.Strings(files)
	m := &module{variables: map[string]bool{}, locals: map[string]bool{}, outputs: map[string]bool{},
		resources: map[string]bool{}, data: map[string]bool{}, modules: map[string]bool{}}
	var problems []string
	p := hclparse.NewParser()
	for _, name := range files {
		src, err := os.ReadFile(name)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		if formatted := hclwrite.Format(src); !bytes.Equal(formatted, src) {
			problems = append(problems, fmt.Sprintf("%s: not canonically formatted (terraform fmt / hclwrite.Format changes it)", name))
		}
		f, diags := p.ParseHCL(src, name)
		if diags.HasErrors() {
			problems = append(problems, diags.Error())
			continue
		}
		for _, b := range f.Body.(*hclsyntax.Body).Blocks {
			problems = append(problems, m.declare(b)...)
		}
	}
	for _, r := range m.refs {
		if msg := m.resolve(r.trav); msg != "" {
			problems = append(problems, fmt.Sprintf("%s: %s", r.rng, msg))
		}
	}
	for _, o := range requiredOutputs {
		if !m.outputs[o] {
			problems = append(problems, fmt.Sprintf("required output %q is missing", o))
		}
	}
	return problems
}

func (m *module) declare(b *hclsyntax.Block) []string {
	var problems []string
	label := func(i int) string {
		if i < len(b.Labels) {
			return b.Labels[i]
		}
		return ""
	}
	switch b.Type {
	case "variable":
		m.variables[label(0)] = true
		for _, a := range []string{"type", "description"} {
			if _, ok := b.Body.Attributes[a]; !ok {
				problems = append(problems, fmt.Sprintf("%s: variable %q has no %s", b.DefRange(), label(0), a))
			}
		}
		if d, ok := b.Body.Attributes["description"]; ok {
			if v, diags := d.Expr.Value(nil); diags.HasErrors() || v.AsString() == "" {
				problems = append(problems, fmt.Sprintf("%s: variable %q has an empty description", b.DefRange(), label(0)))
			}
		}
	case "locals":
		for name := range b.Body.Attributes {
			m.locals[name] = true
		}
	case "output":
		m.outputs[label(0)] = true
		if _, ok := b.Body.Attributes["description"]; !ok {
			problems = append(problems, fmt.Sprintf("%s: output %q has no description", b.DefRange(), label(0)))
		}
	case "resource":
		m.resources[label(0)+"."+label(1)] = true
	case "data":
		m.data[label(0)+"."+label(1)] = true
	case "module":
		m.modules[label(0)] = true
	case "terraform":
		return nil // provider requirements: no references
	}
	m.collect(b)
	return problems
}

// collect records the references of every attribute in b and its nested
// blocks (a variable's type is a type expression, not a reference).
func (m *module) collect(b *hclsyntax.Block) {
	for name, a := range b.Body.Attributes {
		if b.Type == "variable" && name == "type" {
			continue
		}
		for _, t := range a.Expr.Variables() {
			m.refs = append(m.refs, ref{trav: t, rng: t.SourceRange()})
		}
	}
	for _, nb := range b.Body.Blocks {
		m.collect(nb)
	}
}

func attrName(t hcl.Traversal, i int) string {
	if i >= len(t) {
		return ""
	}
	if a, ok := t[i].(hcl.TraverseAttr); ok {
		return a.Name
	}
	return ""
}

// resolve returns why t names nothing declared, or "".
func (m *module) resolve(t hcl.Traversal) string {
	root := t.RootName()
	switch root {
	case "count", "each", "self", "path", "terraform":
		return ""
	case "var":
		if !m.variables[attrName(t, 1)] {
			return fmt.Sprintf("reference to undeclared variable var.%s", attrName(t, 1))
		}
	case "local":
		if !m.locals[attrName(t, 1)] {
			return fmt.Sprintf("reference to undeclared local local.%s", attrName(t, 1))
		}
	case "module":
		if !m.modules[attrName(t, 1)] {
			return fmt.Sprintf("reference to undeclared module module.%s", attrName(t, 1))
		}
	case "data":
		if k := attrName(t, 1) + "." + attrName(t, 2); !m.data[k] {
			return fmt.Sprintf("reference to undeclared data source data.%s", k)
		}
	default:
		if !strings.Contains(root, "_") {
			return fmt.Sprintf("reference to unknown name %q", root)
		}
		if k := root + "." + attrName(t, 1); !m.resources[k] {
			return fmt.Sprintf("reference to undeclared resource %s", k)
		}
	}
	return ""
}

func TestModule(t *testing.T) {
	for _, p := range checkModule(".") {
		t.Error(p)
	}
}

// TestCheckerRejectsBrokenModule shows the checker fails a module with a
// broken reference, an untyped variable and missing outputs.
func TestCheckerRejectsBrokenModule(t *testing.T) {
	problems := strings.Join(checkModule(filepath.Join("testdata", "broken")), "\n")
	for _, want := range []string{
		"reference to undeclared resource azurerm_resource_group.missing",
		`variable "untyped" has no type`,
		`required output "trigger_url" is missing`,
	} {
		if !strings.Contains(problems, want) {
			t.Errorf("checker did not report %q; it reported:\n%s", want, problems)
		}
	}
}

// TestCheckerCatchesUnformatted shows the formatting check works.
func TestCheckerCatchesUnformatted(t *testing.T) {
	dir := t.TempDir()
	src := "output \"trigger_url\" {\n  description = \"x\"\n value = \"y\"\n}\n"
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(checkModule(dir), "\n"), "not canonically formatted") {
		t.Fatal("unformatted file not reported")
	}
}
