package main

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"
)

// config runs `pika config [command [flags]]`: each setting of the command
// (of every command when none is named), its value with secrets masked,
// and where it came from (flag, environment, default). A named command's
// values are checked too, with the lines the command itself would print:
// a bad value exits 2. For every command, problems are listed but do not
// fail, since a setting one command requires means nothing to the others.
func (a *app) config(args []string) error {
	cmds := allCommands()
	var flags []string
	if len(args) > 0 {
		if args[0] == "-h" || args[0] == "--help" {
			fmt.Fprintf(a.stdout, "Usage: pika config [command [flags]]\n\nPrints the effective configuration of %s (default: every one), secrets masked.\ndocs/configuration.md lists every variable.\n", strings.Join(cmds, ", "))
			return nil
		}
		if !slices.Contains(cmds, args[0]) {
			return usageError{fmt.Sprintf("pika config: unknown command %q: say one of %s", args[0], strings.Join(cmds, ", "))}
		}
		cmds, flags = args[:1], args[1:]
	}
	var bad error
	for i, cmd := range cmds {
		if i > 0 {
			fmt.Fprintln(a.stdout)
		}
		problems, err := a.printConfig(a.stdout, cmd, flags)
		if errors.Is(err, errHelp) {
			return nil // the command's flags, which pika config takes too
		}
		if err != nil {
			return err
		}
		if problems != nil && len(cmds) == 1 {
			bad = problems
		}
	}
	return bad
}

// printConfig prints one command's configuration and returns its
// problems, if any, as the command's own usage error.
func (a *app) printConfig(w io.Writer, cmd string, flags []string) (problems error, err error) {
	table := settingsFor(cmd)
	vals, err := resolveSettings(cmd, table, flags, a.getenv, w)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "pika %s\n", cmd)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for _, s := range table {
		r := vals[s.flag]
		v := maskValue(s.secret, r.value)
		from := r.from
		if r.from == fromUnset {
			v = "-"
			if s.defDoc != "" {
				from = "default: " + s.defDoc
			}
		}
		if s.deprecated != "" {
			from += ", deprecated: use " + s.deprecated
		}
		fmt.Fprintf(tw, "  %s\t%s\t(%s)\n", s.env, v, from)
	}
	if err := tw.Flush(); err != nil {
		return nil, err
	}
	check := checkConfig(cmd, flags, a.getenv)
	var ue usageError
	switch {
	case check == nil:
		fmt.Fprintln(w, "  configuration ok")
	case errors.As(check, &ue):
		// The parse functions' lines never repeat a secret.
		fmt.Fprintln(w, "  "+strings.ReplaceAll(ue.msg, "\n", "\n  "))
		return check, nil
	default:
		return nil, check
	}
	return nil, nil
}

// checkConfig runs cmd's own checks on flags and the environment.
func checkConfig(cmd string, flags []string, getenv func(string) string) error {
	var err error
	switch cmd {
	case "lan":
		_, err = parseLAN(flags, getenv, io.Discard)
	case "gateway":
		_, err = parseGateway(flags, getenv, io.Discard, func() string { return "gw-default" })
	case "persister":
		_, err = parsePersister(flags, getenv, io.Discard)
	case "nats":
		_, err = parseNATS(flags, getenv, io.Discard)
	case "migrate":
		_, err = parseMigrate(flags, getenv, io.Discard)
	}
	return err
}

// maskValue shows a value as `pika config` may print it.
func maskValue(mask, v string) string {
	if v == "" {
		return v
	}
	switch mask {
	case maskAll:
		return "****"
	case maskURL:
		return maskURLPassword(v)
	case maskDSN:
		// https://<key>@host/project: the key is the credential.
		if u, err := url.Parse(v); err == nil && u.Host != "" {
			if u.User != nil {
				u.User = url.User("****")
			}
			return strings.ReplaceAll(u.String(), "%2A%2A%2A%2A", "****")
		}
		return "****"
	}
	return v
}

// dsnPassword finds password=… in a key=value PostgreSQL DSN or a query.
var dsnPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]+)`)

// maskURLPassword replaces the password of a URL (and any password=… in
// its query, or in a key=value DSN) with ****. What does not parse is
// masked whole: it may be a password typed in the wrong place.
func maskURLPassword(v string) string {
	u, err := url.Parse(v)
	if err != nil || u.Scheme == "" || u.Host == "" && u.Opaque != "" {
		if strings.Contains(v, "=") && !strings.Contains(v, "://") {
			return dsnPassword.ReplaceAllString(v, "${1}****")
		}
		return "****"
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "****")
		}
	}
	u.RawQuery = dsnPassword.ReplaceAllString(u.RawQuery, "${1}****")
	// url.URL.String escapes the stars; they read better plain.
	return strings.ReplaceAll(u.String(), "%2A%2A%2A%2A", "****")
}
