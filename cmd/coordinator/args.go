package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// flagsFirst moves a subcommand's flags before its positional arguments, so
// that `coordinator read PATH --recursive` works: urfave/cli stops parsing
// flags at the first positional argument. Only arguments after a known
// subcommand move; "--" ends the flags as usual.
func flagsFirst(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	var cmd *cli.Command
	for _, c := range app.Commands {
		if c.Name == args[1] {
			cmd = c
		}
	}
	if cmd == nil {
		return args
	}
	boolFlag := map[string]bool{"help": true, "h": true}
	for _, f := range cmd.Flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			boolFlag[n] = isBool
		}
	}
	var flags, positional []string
	rest := args[2:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		switch {
		case a == "--":
			positional = append(positional, rest[i:]...)
			i = len(rest)
		case strings.HasPrefix(a, "-") && len(a) > 1:
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if !strings.Contains(name, "=") && !boolFlag[name] && i+1 < len(rest) {
				i++
				flags = append(flags, rest[i])
			}
		default:
			positional = append(positional, a)
		}
	}
	return append(append(append([]string{}, args[:2]...), flags...), positional...)
}
