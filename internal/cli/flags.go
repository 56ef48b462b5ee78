package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// FlagSet is a flag.FlagSet whose flags also read an environment variable
// and remember where each value came from, so an error can name it.
type FlagSet struct {
	*flag.FlagSet
	env     func(string) string
	envOf   map[string]string // flag name -> env var
	fromEnv map[string]bool   // the value came from the env var
	envErrs []error
}

// NewFlagSet returns a FlagSet for command name. env looks up variables
// (os.Getenv in main, a map in tests).
func NewFlagSet(name string, env func(string) string, out io.Writer) *FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	return &FlagSet{FlagSet: fs, env: env, envOf: map[string]string{}, fromEnv: map[string]bool{}}
}

func (f *FlagSet) envValue(name, envName string) (string, bool) {
	if envName == "" {
		return "", false
	}
	f.envOf[name] = envName
	v := f.env(envName)
	if file := f.env(envName + FileSuffix); file != "" {
		f.envOf[name] = envName + FileSuffix
		if v != "" {
			f.envErrs = append(f.envErrs, Usagef("%s and %s%s are both set: set one", envName, envName, FileSuffix))
			return "", false
		}
		var err error
		if v, err = readSecretFile(file); err != nil {
			f.envErrs = append(f.envErrs, Usagef("%s%s: %v", envName, FileSuffix, err))
			return "", false
		}
	}
	return v, v != ""
}

func withEnv(usage, envName string) string {
	if envName == "" {
		return usage
	}
	return usage + " (env " + envName + ")"
}

// StringVar defines a string flag with an environment variable.
func (f *FlagSet) StringVar(p *string, name, envName, def, usage string) {
	if v, ok := f.envValue(name, envName); ok {
		def, f.fromEnv[name] = v, true
	}
	f.FlagSet.StringVar(p, name, def, withEnv(usage, envName))
}

// IntVar defines an int flag with an environment variable.
func (f *FlagSet) IntVar(p *int, name, envName string, def int, usage string) {
	if v, ok := f.envValue(name, envName); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			f.envErrs = append(f.envErrs, Usagef("%s: %q is not an integer", envName, v))
		} else {
			def, f.fromEnv[name] = n, true
		}
	}
	f.FlagSet.IntVar(p, name, def, withEnv(usage, envName))
}

// DurationVar defines a duration flag with an environment variable.
func (f *FlagSet) DurationVar(p *time.Duration, name, envName string, def time.Duration, usage string) {
	if v, ok := f.envValue(name, envName); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			f.envErrs = append(f.envErrs, Usagef("%s: %q is not a duration (e.g. 30s, 500ms)", envName, v))
		} else {
			def, f.fromEnv[name] = d, true
		}
	}
	f.FlagSet.DurationVar(p, name, def, withEnv(usage, envName))
}

// BoolVar defines a bool flag with an environment variable.
func (f *FlagSet) BoolVar(p *bool, name, envName string, def bool, usage string) {
	if v, ok := f.envValue(name, envName); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			f.envErrs = append(f.envErrs, Usagef("%s: %q is not a boolean", envName, v))
		} else {
			def, f.fromEnv[name] = b, true
		}
	}
	f.FlagSet.BoolVar(p, name, def, withEnv(usage, envName))
}

// Parse parses args, allowing positional arguments between flags
// ("get ID --pool p"), and returns the positional arguments. Errors are
// *UsageError.
func (f *FlagSet) Parse(args []string) ([]string, error) {
	if len(f.envErrs) > 0 {
		return nil, f.envErrs[0]
	}
	var pos []string
	for {
		if err := f.FlagSet.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, Usagef("%s: %v", f.Name(), err)
		}
		rest := f.Args()
		if len(rest) == 0 {
			break
		}
		if rest[0] == "--" {
			pos = append(pos, rest[1:]...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	f.Visit(func(fl *flag.Flag) { f.fromEnv[fl.Name] = false })
	return pos, nil
}

// Where names the source of flag name's value for error messages:
// "--name", or the environment variable it came from.
func (f *FlagSet) Where(name string) string {
	if f.fromEnv[name] {
		return f.envOf[name]
	}
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// FromEnv reports whether the flag's value came from its environment
// variable rather than the command line.
func (f *FlagSet) FromEnv(name string) bool { return f.fromEnv[name] }

// Usage prints the command's help.
func (f *FlagSet) Usage(summary string) {
	fmt.Fprintf(f.Output(), "%s\n\nFlags:\n", strings.TrimSpace(summary))
	f.PrintDefaults()
}

// IsSet reports whether flag name was given on the command line or by its
// environment variable.
func (f *FlagSet) IsSet(name string) bool {
	if f.fromEnv[name] {
		return true
	}
	set := false
	f.Visit(func(fl *flag.Flag) {
		if fl.Name == name {
			set = true
		}
	})
	return set
}
