# bash completion for parley-relay(8). Installed as
# share/bash-completion/completions/parley-relay; to try it: source this file.
# Keep the option list equal to `parley-relay --help`
# (tests/integration/test_man_and_completions.py checks it).

# In `parley-relay --help` order.
_parley_relay_options="--help --version --config --check-config --listen --cert --key --insecure-plaintext --threads
    --metrics-listen --max-frame-bytes --max-connections --max-connections-per-address --max-rooms-per-connection
    --max-send-queue-bytes --messages-per-second --message-burst --bytes-per-second --byte-burst
    --handshake-timeout --idle-timeout --store --data --sync --retain-days --retain-messages --founders
    --open-rooms --rooms-per-founder-per-hour --rooms-per-address-per-hour --max-room-bytes
    --max-total-bytes --max-chain-records --chain-page-bytes --backup --log-level --log-format"

_parley_relay() {
    local cur prev
    COMPREPLY=()
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD - 1]}
    # --opt=value: bash splits it into --opt, =, value.
    if [[ $cur == "=" ]]; then
        cur=""
    elif [[ $prev == "=" ]] && ((COMP_CWORD >= 2)); then
        prev=${COMP_WORDS[COMP_CWORD - 2]}
    fi

    case $prev in
        --cert | --key | --founders | --backup | --config)
            if declare -F _filedir >/dev/null; then
                _filedir
            else
                compopt -o filenames 2>/dev/null
                mapfile -t COMPREPLY < <(compgen -f -- "$cur")
            fi
            return 0
            ;;
        --data)
            if declare -F _filedir >/dev/null; then
                _filedir -d
            else
                compopt -o filenames 2>/dev/null
                mapfile -t COMPREPLY < <(compgen -d -- "$cur")
            fi
            return 0
            ;;
        --store)
            mapfile -t COMPREPLY < <(compgen -W "sqlite memory postgresql://" -- "$cur")
            return 0
            ;;
        --sync)
            mapfile -t COMPREPLY < <(compgen -W "normal full" -- "$cur")
            return 0
            ;;
        --metrics-listen)
            mapfile -t COMPREPLY < <(compgen -W "off" -- "$cur")  # or HOST:PORT
            return 0
            ;;
        --log-level)
            mapfile -t COMPREPLY < <(compgen -W "error warning notice info debug" -- "$cur")
            return 0
            ;;
        --log-format)
            mapfile -t COMPREPLY < <(compgen -W "auto plain journal" -- "$cur")
            return 0
            ;;
        --help | --version | --insecure-plaintext | --open-rooms) ;;
        --*)
            return 0  # a number or an address
            ;;
    esac
    mapfile -t COMPREPLY < <(compgen -W "$_parley_relay_options" -- "$cur")
    return 0
}

complete -F _parley_relay parley-relay
