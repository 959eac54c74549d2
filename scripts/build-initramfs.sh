#!/usr/bin/env bash
# build-initramfs.sh - build a small busybox initramfs (newc cpio, gzip).
#
# Usage: build-initramfs.sh -o OUT -i INIT [options]
#   -o OUT        output file (written atomically)
#   -i INIT       script installed as /init
#   -b BUSYBOX    static busybox binary     (default: .cache/guest/current/busybox)
#   -d MODDIR     kernel module directory   (default: from .cache/guest/current)
#   -m 'NAME [PARAM=VALUE...]'
#                 add a kernel module and, via modules.dep, its dependencies;
#                 repeatable. Built-in modules are skipped.
#   -M FILE       read module specs (same format, one per line, # comments)
#   -f SRC:DEST   copy file or directory SRC to DEST in the image; repeatable
#   -z gzip|none  compression (default gzip)
#
# Layout of the image: /bin/busybox with applet symlinks for every applet, /init,
# /dev/console (when run as root), modules decompressed under
# /lib/modules/<kver>/ and their insmod order in /lib/modules/load.list
# ("<path relative to /lib/modules/<kver>> [params]" per line, dependencies
# first). Output is deterministic (sorted, uid 0, mtime SOURCE_DATE_EPOCH or 0).
# Decompressed modules are cached next to MODDIR in MODDIR.unxz/.
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() {
    awk 'NR > 2 && !/^#/ { exit } NR > 2 { sub(/^# ?/, ""); print }' "$0" >&2
    exit 2
}

out="" init="" busybox="" moddir="" compress=gzip
mod_specs=() files=()
while getopts 'o:i:b:d:m:M:f:z:h' opt; do
    case $opt in
    o) out=$OPTARG ;;
    i) init=$OPTARG ;;
    b) busybox=$OPTARG ;;
    d) moddir=$OPTARG ;;
    m) mod_specs+=("$OPTARG") ;;
    M)
        [[ -f $OPTARG ]] || die "no module list $OPTARG"
        while read -r line; do
            line=${line%%#*}
            [[ -n ${line//[[:space:]]/} ]] && mod_specs+=("$line")
        done <"$OPTARG"
        ;;
    f) files+=("$OPTARG") ;;
    z) compress=$OPTARG ;;
    *) usage ;;
    esac
done
[[ -n $out && -n $init ]] || usage
[[ -f $init ]] || die "init script $init not found"
[[ $compress == gzip || $compress == none ]] || die "bad -z $compress"

current=$CACHE/guest/current
busybox=${busybox:-$current/busybox}
[[ -x $busybox ]] || die "busybox $busybox not found (run scripts/fetch-guest.sh)"
if [[ -z $moddir && ${#mod_specs[@]} -gt 0 ]]; then
    for d in "$current"/usr/lib/modules/* "$current"/lib/modules/*; do
        [[ -f $d/modules.dep ]] && moddir=$d && break
    done
    [[ -n $moddir ]] || die "no module directory under $current (run scripts/fetch-guest.sh)"
fi

stage=$(mktemp -d "${TMPDIR:-/tmp}/initramfs.XXXXXX")
trap 'rm -rf "$stage"' EXIT

mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,etc,root,lib/modules}
chmod 1777 "$stage/tmp"
install -m 0755 "$busybox" "$stage/bin/busybox"
while read -r applet; do
    [[ -e $stage/$applet || -L $stage/$applet ]] || ln -s /bin/busybox "$stage/$applet"
done < <("$busybox" --list-full | grep -v '^bin/busybox$')
install -m 0755 "$init" "$stage/init"
if [[ $EUID -eq 0 ]]; then
    # The kernel opens /dev/console for init before any devtmpfs is mounted.
    mknod -m 0600 "$stage/dev/console" c 5 1
    mknod -m 0666 "$stage/dev/null" c 1 3
fi

# ---- kernel modules --------------------------------------------------------
# norm PATH-OR-NAME: module name with '-' as '_' in $REPLY (no subshell: fast).
norm() {
    REPLY=${1##*/}
    REPLY=${REPLY%%.ko*}
    REPLY=${REPLY//-/_}
}

if [[ ${#mod_specs[@]} -gt 0 ]]; then
    [[ -f $moddir/modules.dep ]] || die "$moddir/modules.dep missing"
    kver=$(basename "$moddir")
    declare -A mod_path=() mod_deps=() builtin=() visited=() params=()
    while IFS=: read -r path deps; do
        norm "$path"
        mod_path[$REPLY]=$path
        mod_deps[$REPLY]=${deps# }
    done <"$moddir/modules.dep"
    if [[ -f $moddir/modules.builtin ]]; then
        while read -r path; do
            norm "$path"
            builtin[$REPLY]=1
        done <"$moddir/modules.builtin"
    fi

    order=()
    visit() {
        local name=$1 dep i
        [[ -n ${visited[$name]:-} ]] && return
        visited[$name]=1
        local -a deps
        read -r -a deps <<<"${mod_deps[$name]}"
        # modules.dep lists the deepest dependency last; load it first.
        for ((i = ${#deps[@]} - 1; i >= 0; i--)); do
            norm "${deps[i]}"
            dep=$REPLY
            [[ -n ${mod_path[$dep]:-} ]] || die "dependency ${deps[i]} of $name not in modules.dep"
            visit "$dep"
        done
        order+=("$name")
    }
    for spec in "${mod_specs[@]}"; do
        read -r name args <<<"$spec"
        norm "$name"
        name=$REPLY
        if [[ -n ${mod_path[$name]:-} ]]; then
            [[ -n $args ]] && params[$name]=$args
            visit "$name"
        elif [[ -n ${builtin[$name]:-} ]]; then
            log "module $name is built into $kver, skipped"
        else
            die "module $name not found in $moddir"
        fi
    done

    unxz_dir=$moddir.unxz
    list=$stage/lib/modules/load.list
    : >"$list"
    for name in "${order[@]}"; do
        path=${mod_path[$name]}
        plain=${path%.xz}
        plain=${plain%.zst}
        plain=${plain%.gz}
        cached=$unxz_dir/$plain
        if [[ ! -f $cached || $moddir/$path -nt $cached ]]; then
            mkdir -p "$(dirname "$cached")"
            case $path in
            *.xz) xz -dc "$moddir/$path" >"$cached.tmp" ;;
            *.zst) zstd -qdc "$moddir/$path" >"$cached.tmp" ;;
            *.gz) gzip -dc "$moddir/$path" >"$cached.tmp" ;;
            *) cp "$moddir/$path" "$cached.tmp" ;;
            esac
            mv "$cached.tmp" "$cached"
        fi
        install -D -m 0644 "$cached" "$stage/lib/modules/$kver/$plain"
        printf '%s%s\n' "$plain" "${params[$name]:+ ${params[$name]}}" >>"$list"
    done
    log "modules ($kver): ${order[*]}"
fi

# ---- extra files -----------------------------------------------------------
for spec in "${files[@]}"; do
    src=${spec%:*}
    dest=${spec##*:}
    [[ $spec == *:* && $dest == /* ]] || die "bad -f $spec (want SRC:/ABS/DEST)"
    if [[ -d $src ]]; then
        mkdir -p "$stage$dest"
        cp -a "$src/." "$stage$dest/"
    elif [[ -f $src ]]; then
        mkdir -p "$(dirname "$stage$dest")"
        cp -L --preserve=mode "$src" "$stage$dest"
    else
        die "extra file $src not found"
    fi
done

# ---- archive ----------------------------------------------------------------
find "$stage" -exec touch -h -d "@${SOURCE_DATE_EPOCH:-0}" {} +
mkdir -p "$(dirname "$out")"
(
    cd "$stage"
    find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort |
        cpio -o -H newc -R 0:0 --reproducible --quiet
) | if [[ $compress == gzip ]]; then gzip -n -6; else cat; fi >"$out.tmp"
mv "$out.tmp" "$out"
log "wrote $out ($(du -h "$out" | cut -f1))"
