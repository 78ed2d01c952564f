// Package apicheck writes down the exported API of jetpool's public
// packages, so that a test can compare it with the copy committed under
// api/ and a change to the API is always a deliberate one.
//
// The surface of a package is its exported declarations as Go source with
// the comments and function bodies left out: documentation can change
// freely, a signature, field, constant or method cannot change unnoticed.
package apicheck

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/build"
	"go/parser"
	"go/printer"
	"go/token"
	"path/filepath"
	"sort"
	"strings"
)

// Surface returns the exported API of the Go package in dir, one
// declaration per entry, sorted, as Go source without comments or bodies.
// Files excluded by build constraints for this platform are left out.
func Surface(dir string) (string, error) {
	pkg, err := build.ImportDir(dir, 0)
	if err != nil {
		return "", fmt.Errorf("apicheck: %s: %w", dir, err)
	}
	fset := token.NewFileSet()
	var decls []string
	for _, name := range pkg.GoFiles {
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			return "", fmt.Errorf("apicheck: %w", err)
		}
		for _, d := range f.Decls {
			decls = append(decls, exported(fset, d)...)
		}
	}
	sort.Strings(decls)
	var b strings.Builder
	fmt.Fprintf(&b, "package %s\n", pkg.Name)
	for _, d := range decls {
		b.WriteString("\n")
		b.WriteString(d)
		b.WriteString("\n")
	}
	return b.String(), nil
}

// exported returns the exported parts of one top-level declaration, each
// printed on its own.
func exported(fset *token.FileSet, d ast.Decl) []string {
	switch d := d.(type) {
	case *ast.FuncDecl:
		if !d.Name.IsExported() || (d.Recv != nil && !exportedReceiver(d.Recv)) {
			return nil
		}
		fn := *d
		fn.Doc, fn.Body = nil, nil
		return []string{print(fset, &fn)}
	case *ast.GenDecl:
		if d.Tok == token.CONST && d.Lparen.IsValid() {
			// A const group stays one: its iota and implicit types run
			// through the whole group.
			g := &ast.GenDecl{Tok: d.Tok, Lparen: d.Lparen, Rparen: d.Rparen}
			for _, s := range d.Specs {
				if spec := exportedSpec(s); spec != nil {
					g.Specs = append(g.Specs, spec)
				}
			}
			if len(g.Specs) == 0 {
				return nil
			}
			return []string{print(fset, g)}
		}
		var out []string
		for _, s := range d.Specs {
			if spec := exportedSpec(s); spec != nil {
				g := &ast.GenDecl{Tok: d.Tok, Specs: []ast.Spec{spec}}
				out = append(out, print(fset, g))
			}
		}
		return out
	}
	return nil
}

// exportedSpec returns the exported part of a spec, or nil when none is.
func exportedSpec(s ast.Spec) ast.Spec {
	switch s := s.(type) {
	case *ast.TypeSpec:
		if !s.Name.IsExported() {
			return nil
		}
		t := *s
		t.Doc, t.Comment = nil, nil
		t.Type = exportedType(s.Type)
		return &t
	case *ast.ValueSpec:
		v := *s
		v.Doc, v.Comment, v.Names, v.Values = nil, nil, nil, nil
		for i, n := range s.Names {
			if !n.IsExported() {
				continue
			}
			v.Names = append(v.Names, n)
			if i < len(s.Values) {
				v.Values = append(v.Values, s.Values[i])
			}
		}
		if len(v.Names) == 0 {
			return nil
		}
		if len(v.Values) != len(v.Names) {
			// A multi-value call: the names and type say enough.
			v.Values = nil
		}
		return &v
	}
	return nil
}

// exportedType keeps a struct's exported fields and an interface's
// exported methods; other types are returned as they are.
func exportedType(t ast.Expr) ast.Expr {
	switch t := t.(type) {
	case *ast.StructType:
		return &ast.StructType{Fields: exportedFields(t.Fields)}
	case *ast.InterfaceType:
		return &ast.InterfaceType{Methods: exportedFields(t.Methods)}
	}
	return t
}

// exportedFields returns the exported fields (and embedded types) of a
// field list without their comments.
func exportedFields(fl *ast.FieldList) *ast.FieldList {
	out := &ast.FieldList{}
	for _, f := range fl.List {
		g := &ast.Field{Type: f.Type, Tag: f.Tag}
		if len(f.Names) == 0 {
			if embeddedExported(f.Type) {
				out.List = append(out.List, g)
			}
			continue
		}
		for _, n := range f.Names {
			if n.IsExported() {
				g.Names = append(g.Names, n)
			}
		}
		if len(g.Names) > 0 {
			if st, ok := f.Type.(*ast.StructType); ok {
				g.Type = exportedType(st)
			}
			out.List = append(out.List, g)
		}
	}
	return out
}

// embeddedExported reports whether an embedded field's type name is
// exported (pkg.T, T, *T, T[P]).
func embeddedExported(t ast.Expr) bool {
	switch t := t.(type) {
	case *ast.StarExpr:
		return embeddedExported(t.X)
	case *ast.SelectorExpr:
		return t.Sel.IsExported()
	case *ast.Ident:
		return t.IsExported()
	case *ast.IndexExpr:
		return embeddedExported(t.X)
	case *ast.IndexListExpr:
		return embeddedExported(t.X)
	}
	return true
}

// exportedReceiver reports whether a method's receiver type is exported.
func exportedReceiver(recv *ast.FieldList) bool {
	if len(recv.List) == 0 {
		return false
	}
	return embeddedExported(recv.List[0].Type)
}

func print(fset *token.FileSet, node any) string {
	var b bytes.Buffer
	cfg := printer.Config{Mode: printer.UseSpaces | printer.TabIndent, Tabwidth: 8}
	if err := cfg.Fprint(&b, fset, node); err != nil {
		return fmt.Sprintf("/* %v */", err)
	}
	return b.String()
}
