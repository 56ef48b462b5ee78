package rolling

import (
	"os"
	"testing"
)

func TestShow(t *testing.T) {
	for _, f := range []string{"testdata/gen.yaml", "testdata/gen_business.yaml"} {
		c, err := LoadGenConfig(f)
		if err != nil {
			t.Fatal(err)
		}
		tasks, err := c.Build()
		if err != nil {
			t.Fatal(err)
		}
		WriteTable(os.Stdout, tasks, c.SegmentsPath())
	}
}
