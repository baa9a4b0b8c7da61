package config

import (
	"fmt"
	"io"
	"reflect"
	"strconv"
)

// PrintHelp writes every setting under its group: the flag, what it does,
// its default and its variable.
func PrintHelp(w io.Writer) {
	group := ""
	for _, s := range Settings() {
		if s.Group != group {
			group = s.Group
			fmt.Fprintf(w, "\n%s:\n", group)
		}
		fmt.Fprintf(w, "  --%s\n        %s\n        default %s; %s; YAML %s\n", s.Flag, s.Help, s.Shown(), s.Env, s.Key)
	}
}

// Shown is the default as one would write it ("empty" for an empty string).
func (s Setting) Shown() string {
	switch {
	case s.Type.Kind() == reflect.String && s.Default == "":
		return "empty"
	case s.Type.Kind() == reflect.String:
		return strconv.Quote(s.Default)
	case s.Default != "":
		return s.Default
	}
	return fmt.Sprint(reflect.Zero(s.Type).Interface())
}
