# bash completion for parley(1). Installed as
# share/bash-completion/completions/parley; to try it: source this file.
# Keep the option lists equal to `parley COMMAND --help`
# (tests/integration/test_man_and_completions.py checks them).

_parley_commands="keygen fingerprint create join invite chat send listen rekey upgrade history device"

# Options of each command, in `parley COMMAND --help` order.
_parley_room_options="--help --user --room --server --dir --config --ca --state --password --password-file"
_parley_options_keygen="--help --user --dir"
_parley_options_fingerprint="--help --dir"
_parley_options_create="$_parley_room_options --protocol"
_parley_options_join="$_parley_room_options"
_parley_options_invite="$_parley_room_options"
_parley_options_chat="$_parley_room_options --retry --ui --sync-interval --rotate-after"
_parley_options_send="$_parley_room_options --retry"
_parley_options_listen="$_parley_room_options --retry --count --timeout --rotate-after"
_parley_options_rekey="$_parley_room_options --add --remove --revoke --sync"
_parley_options_upgrade="$_parley_room_options --without"
_parley_options_history="--help --user --room --dir --config --state --password-file --password --limit --json"
_parley_options_device="--help --user --dir --config --state --new"

# The value of option $1 on the command line (the last one), else $2.
_parley_option_value() {
    local name=$1 value=$2 i
    for ((i = 1; i < ${#COMP_WORDS[@]}; i++)); do
        ((i == COMP_CWORD)) && continue
        if [[ ${COMP_WORDS[i]} == "$name" ]]; then
            if [[ ${COMP_WORDS[i + 1]} == "=" ]]; then
                value=${COMP_WORDS[i + 2]}
            else
                value=${COMP_WORDS[i + 1]}
            fi
        elif [[ ${COMP_WORDS[i]} == "$name="* ]]; then
            value=${COMP_WORDS[i]#"$name="}
        fi
    done
    [[ $value == "~"* ]] && value=$HOME${value#"~"}
    printf '%s' "$value"
}

# NAME for each DIR/NAME.pem (private keys: --user), or each
# DIR/public_keys/NAME.pem (members: --add, --remove, fingerprint).
_parley_key_names() {
    local dir file
    dir=$(_parley_option_value --dir .)
    [[ $1 == public ]] && dir=$dir/public_keys
    for file in "$dir"/*.pem; do
        [[ -f $file ]] || continue
        file=${file##*/}
        printf '%s\n' "${file%.pem}"
    done
}

# The room names in the settings file: room = "..." and the invite's name.
_parley_room_names() {
    local config line
    config=$(_parley_option_value --config "")
    [[ -n $config ]] || config=$(_parley_option_value --dir .)/parley.toml
    [[ -r $config ]] || return 0
    while IFS= read -r line; do
        if [[ $line =~ ^[[:space:]]*room[[:space:]]*=[[:space:]]*\"([^\"]*)\" ]]; then
            printf '%s\n' "${BASH_REMATCH[1]}"
        elif [[ $line =~ ^[[:space:]]*invite[[:space:]]*=[[:space:]]*\"parley-invite:1:([^:\"]+): ]]; then
            printf '%s\n' "${BASH_REMATCH[1]}"
        fi
    done <"$config"
}

_parley_files() {
    if declare -F _filedir >/dev/null; then
        _filedir "$@"
    else
        compopt -o filenames 2>/dev/null
        if [[ $1 == -d ]]; then
            mapfile -t COMPREPLY < <(compgen -d -- "$cur")
        else
            mapfile -t COMPREPLY < <(compgen -f -- "$cur")
        fi
    fi
}

_parley_words() {
    mapfile -t COMPREPLY < <(compgen -W "$1" -- "$cur")
}

_parley() {
    local cur prev cmd i options
    COMPREPLY=()
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD - 1]}
    # --opt=value: bash splits it into --opt, =, value.
    if [[ $cur == "=" ]]; then
        cur=""
    elif [[ $prev == "=" ]] && ((COMP_CWORD >= 2)); then
        prev=${COMP_WORDS[COMP_CWORD - 2]}
    fi

    # The command: the first word that is neither an option nor an option's value.
    cmd=""
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
            -*) ;;
            *)
                cmd=${COMP_WORDS[i]}
                break
                ;;
        esac
    done

    if [[ -n $cmd && " $_parley_commands " != *" $cmd "* ]]; then
        return 0  # not a command parley knows
    fi
    if [[ -z $cmd ]]; then
        if [[ $cur == -* ]]; then
            _parley_words "--help --version"
        else
            _parley_words "$_parley_commands"
        fi
        return 0
    fi

    case $prev in
        --dir | --state)
            _parley_files -d
            return 0
            ;;
        --ca | --config | --password-file)
            _parley_files
            return 0
            ;;
        --user)
            [[ $cmd == keygen ]] && return 0  # a new name
            _parley_words "$(_parley_key_names private)"
            return 0
            ;;
        --add | --remove | --without)
            _parley_words "$(_parley_key_names public)"
            return 0
            ;;
        --room)
            _parley_words "$(_parley_room_names)"
            return 0
            ;;
        --ui)
            _parley_words "auto full line"
            return 0
            ;;
        --protocol)
            _parley_words "1 2"
            return 0
            ;;
        --server | --password | --retry | --sync-interval | --rotate-after | --count | --timeout | --limit | --revoke)
            return 0
            ;;
    esac

    if [[ $cmd == device && $cur != -* ]]; then
        # The first word after `device` that is not an option (nor an option's value) is the action.
        local action="" j
        for ((j = i + 1; j < COMP_CWORD; j++)); do
            case ${COMP_WORDS[j]} in
                --user | --dir | --config | --state) ((j++)) ;;
                -* | =) ;;
                *)
                    action=${COMP_WORDS[j]}
                    break
                    ;;
            esac
        done
        [[ -z $action ]] && _parley_words "add show card"
        return 0  # add's NAME is a new name
    fi
    if [[ $cmd == fingerprint && $cur != -* ]]; then
        _parley_words "$(_parley_key_names public)"
        return 0
    fi
    options=_parley_options_$cmd
    _parley_words "${!options}"
    return 0
}

complete -F _parley parley
