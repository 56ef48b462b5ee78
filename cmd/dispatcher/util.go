package main

import (
	"encoding/json"
	"fmt"
)

// compact renders a decoded payload on one line: JSON when it has a JSON
// form, Go syntax otherwise.
func compact(v any) string {
	if v == nil {
		return "-"
	}
	if b, err := json.Marshal(v); err == nil {
		return string(b)
	}
	return fmt.Sprintf("%#v", v)
}
