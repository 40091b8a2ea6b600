package main

import (
	"fmt"
	"strings"
)

// subcommands of each command group, for completion.
var groups = map[string][]string{
	"resident": {"add", "list", "show", "update", "disable", "enable", "delete", "set"},
	"card":     {"assign", "revoke"},
	"pin":      {"set", "reset"},
	"face":     {"enroll", "delete", "reconsent"},
	"audit":    {"list", "verify", "export"},
	"keys":     {"rotate"},
	"relay":    {"lock"},
	"visitor":  {"add", "list", "revoke"},
	"compound": {"join", "status", "export"},
	"office":   {"init", "key", "log", "resident", "card", "pin", "visitor", "schedule", "gate", "optout", "publish", "collect", "report"},
	"camera":   {"nir-register"},
	"clock":    {"reset"},
}

func runCompletion(e *env, args []string) error {
	fs := newFlags(e, "completion", "bash|zsh")
	pos, err := positional(fs, args, "SHELL")
	if err != nil {
		return err
	}
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	var cases strings.Builder
	for g, subs := range groups {
		fmt.Fprintf(&cases, "    %s) COMPREPLY=($(compgen -W %q -- \"$cur\")) ;;\n", g, strings.Join(subs, " "))
	}
	script := fmt.Sprintf(`# gated completion. bash: source <(gated completion bash)
_gated() {
  local cur=${COMP_WORDS[COMP_CWORD]}
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W %q -- "$cur"))
    return
  fi
  if [ "$COMP_CWORD" -eq 2 ]; then
    case ${COMP_WORDS[1]} in
%s    *) COMPREPLY=($(compgen -f -- "$cur")) ;;
    esac
    return
  fi
  COMPREPLY=($(compgen -f -- "$cur"))
}
complete -F _gated gated
`, strings.Join(names, " "), cases.String())
	switch pos[0] {
	case "bash":
		fmt.Fprint(e.stdout, script)
	case "zsh":
		fmt.Fprint(e.stdout, "autoload -U +X bashcompinit && bashcompinit\n"+script)
	default:
		return usageError{"shell: bash or zsh"}
	}
	return nil
}
