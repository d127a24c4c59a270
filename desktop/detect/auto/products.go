package auto

import (
	"github.com/pika-dj/pika/desktop/detect"
)

// All lists every product Pika! can follow. When two were used equally
// recently, the earlier one here wins: programs that know which deck is
// audible come before those that only know what was played.
func All() []detect.Product {
	return []detect.Product{
		detect.HistoryFileProduct(),
	}
}
