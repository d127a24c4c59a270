// Package auto owns choosing which DJ program to follow: it knows every
// product Pika! can read, looks for each on this machine, and picks the one
// the DJ is most likely using, saying which and why. It never reads a
// program's plays itself; the product's own package does.
package auto

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pika-dj/pika/desktop/detect"
)

// Report is what Detect found and chose.
type Report struct {
	// Found is every product found, each with the products' own words
	// about it; ready ones first, most recently used first.
	Found []Sighting
	// Chosen is the product to follow; nil when none is ready.
	Chosen *Sighting
	// Why explains the choice (or the lack of one) in a sentence or two.
	Why string
}

// Sighting is one product found on this machine.
type Sighting struct {
	Product detect.Product
	Found   detect.Found
}

// Detect looks for every product on env and picks the ready one whose files
// changed most recently: the program the DJ used last is the one they are
// about to play from. Equally recent ones go by the order of products.
func Detect(env detect.Env, products []detect.Product, now time.Time) Report {
	var found []Sighting
	order := map[string]int{}
	for i, p := range products {
		order[p.ID] = i
		if p.Locate == nil {
			continue
		}
		for _, f := range p.Locate(env) {
			if f.Product == "" {
				f.Product = p.ID
			}
			found = append(found, Sighting{Product: p, Found: f})
		}
	}
	slices.SortStableFunc(found, func(a, b Sighting) int {
		if a.Found.Ready != b.Found.Ready {
			if a.Found.Ready {
				return -1
			}
			return 1
		}
		if c := b.Found.Changed.Compare(a.Found.Changed); c != 0 {
			return c
		}
		return cmp.Compare(order[a.Product.ID], order[b.Product.ID])
	})
	// One line per product in the explanation, however many places it was
	// found in.
	var r Report
	r.Found = found
	if len(found) == 0 {
		r.Why = "No DJ program was found on this computer (looked for " + names(products) + "). " +
			"Name one with --source, or a history file with --watch."
		return r
	}
	first := found[0]
	if !first.Found.Ready {
		r.Why = fmt.Sprintf("%s was found but cannot be followed yet: %s", first.Product.Name, first.Found.Why)
		return r
	}
	r.Chosen = &found[0]
	var b strings.Builder
	fmt.Fprintf(&b, "Following %s: %s.", first.Product.Name, strings.TrimSuffix(first.Found.Why, "."))
	var others []string
	seen := map[string]bool{first.Product.ID: true}
	for _, s := range found[1:] {
		if seen[s.Product.ID] {
			continue
		}
		seen[s.Product.ID] = true
		o := s.Product.Name
		switch {
		case !s.Found.Ready:
			o += " (not set up: " + strings.TrimSuffix(s.Found.Why, ".") + ")"
		case !s.Found.Changed.IsZero():
			o += " (last written " + detect.Ago(now, s.Found.Changed) + ")"
		}
		others = append(others, o)
	}
	if len(others) > 0 {
		fmt.Fprintf(&b, " Also found: %s; choose one with --source.", strings.Join(others, ", "))
	}
	r.Why = b.String()
	return r
}

// Find returns the product with the given id (as --source names it).
func Find(products []detect.Product, id string) (detect.Product, bool) {
	id = strings.ToLower(strings.TrimSpace(id))
	for _, p := range products {
		if p.ID == id {
			return p, true
		}
	}
	return detect.Product{}, false
}

// IDs lists the products' ids, for help and errors.
func IDs(products []detect.Product) string {
	ids := make([]string, len(products))
	for i, p := range products {
		ids[i] = p.ID
	}
	return strings.Join(ids, ", ")
}

func names(products []detect.Product) string {
	var n []string
	for _, p := range products {
		if p.Locate != nil {
			n = append(n, p.Name)
		}
	}
	if len(n) == 0 {
		return "nothing"
	}
	return strings.Join(n, ", ")
}
