# bash completion for storectl(1).  Installed by make install into
# share/bash-completion/completions/storectl.
#
# Commands and each command's options come from storectl itself (--help,
# help COMMAND), so they never fall out of step with the binary.  Store
# and repository names come from the daemon: storectl repos lists every
# env on disk (of the stores this user may read), with the socket of -s
# or $STORESD_SOCKET; nothing is completed when it does not answer.

# The words storectl's daemon knows in column $1 of `storectl repos`.
_storectl_names()
{
	local sock=$1 col=$2
	"${_storectl_cmd:-storectl}" ${sock:+-s "$sock"} repos 2>/dev/null |
	    cut -f"$col" | sort -u
}

_storectl()
{
	local cur prev words cword
	if declare -F _init_completion >/dev/null; then
		_init_completion -n = || return
	else
		cur=${COMP_WORDS[COMP_CWORD]}
		prev=${COMP_WORDS[COMP_CWORD - 1]}
		words=("${COMP_WORDS[@]}")
		cword=$COMP_CWORD
	fi
	_storectl_cmd=${words[0]}

	local i cmd= sock= nargs=0
	for ((i = 1; i < cword; i++)); do
		case ${words[i]} in
		-s|--socket) sock=${words[i + 1]}; ((i++)) ;;
		-r|--repo|-d|--db|--if-equals|--prefix|--start|--end|\
		--limit|--after|--from|--count) ((i++)) ;;
		-*) ;;
		*) if [[ -z $cmd ]]; then cmd=${words[i]}
		   else ((nargs++)); fi ;;
		esac
	done

	case $prev in
	-s|--socket)
		COMPREPLY=($(compgen -f -- "$cur"))
		return ;;
	-r|--repo)
		COMPREPLY=($(compgen -W "$(_storectl_names "$sock" 1 |
		    grep -vx -- -)" -- "$cur"))
		return ;;
	-d|--db|--if-equals|--start|--end|--limit|--after|--prefix|\
	--from|--count)
		return ;;
	esac

	if [[ -z $cmd ]]; then
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "-s --socket -r --repo -d --db
			    -x --hex -h --help --version" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$("$_storectl_cmd" --help \
			    2>/dev/null | sed -n 's/^  \([a-z][a-z]*\) .*/\1/p;
			    s/^  \([a-z][a-z]*\)$/\1/p')" -- "$cur"))
		fi
		return
	fi
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$("$_storectl_cmd" help "$cmd" \
		    2>&1 | grep -o -- '--[a-z-]*' | sort -u)" -- "$cur"))
		return
	fi
	case $cmd in
	help)
		[[ $nargs -eq 0 ]] && COMPREPLY=($(compgen -W "$(
		    "$_storectl_cmd" --help 2>/dev/null |
		    sed -n 's/^  \([a-z][a-z]*\)\( .*\)\{0,1\}$/\1/p')" \
		    -- "$cur"))
		;;
	ping) ;;
	*)
		# The first operand of every other command is a store.
		if [[ $nargs -eq 0 ]]; then
			COMPREPLY=($(compgen -W "$(_storectl_names "$sock" 2)" \
			    -- "$cur"))
		elif [[ $cmd == snapshot || $cmd == restore ]]; then
			COMPREPLY=($(compgen -f -- "$cur"))
		fi
		;;
	esac
}
complete -F _storectl storectl
