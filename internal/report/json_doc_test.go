package report

import (
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// TestWriteJSONDocumentsEveryField checks that the JSON shown in
// WriteJSON's doc comment, which users read as the schema of -o json,
// names every field the report's types write: a field added to a struct
// in json.go without its line there is one users cannot find.
func TestWriteJSONDocumentsEveryField(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "json.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	var doc string
	var tags []string
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.FuncDecl:
			if n.Name.Name == "WriteJSON" && n.Recv != nil {
				doc = n.Doc.Text()
			}
		case *ast.Field:
			if n.Tag != nil {
				tag, _ := strconv.Unquote(n.Tag.Value)
				if name, _, _ := strings.Cut(reflect.StructTag(tag).Get("json"), ","); name != "" && name != "-" {
					tags = append(tags, name)
				}
			}
		}
		return true
	})
	if doc == "" || len(tags) < 50 {
		t.Fatalf("found %d JSON fields and a doc comment of %d bytes in json.go: the test no longer finds them", len(tags), len(doc))
	}
	for _, name := range tags {
		if !strings.Contains(doc, strconv.Quote(name)) {
			t.Errorf("-o json writes %q, which WriteJSON's doc comment does not show", name)
		}
	}
}
