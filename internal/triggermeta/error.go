// Package triggermeta holds what the readers of KEDA trigger metadata share: the error that
// names the key and the value that could not be used. The scaler (scaling keys) and the
// Kubernetes provider (routing keys) read the same trigger.
package triggermeta

import "fmt"

// MaxQuoted bounds how much of a bad value an error message repeats.
const MaxQuoted = 64

// Error says which trigger metadata key holds which unusable value, and why.
type Error struct {
	Key, Value, Reason string
}

func (e *Error) Error() string {
	v := e.Value
	if len(v) > MaxQuoted {
		v = v[:MaxQuoted] + "..."
	}
	return fmt.Sprintf("metadata key %q: %q %s", e.Key, v, e.Reason)
}
