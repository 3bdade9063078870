# render.awk: fills in a template of benches/peers/ (see render in benches/lib.sh).
#
#   awk -f render.awk TEMPLATE [NAME=VALUE ...]                the template once
#   awk -f render.awk -v rows=1 TEMPLATE [NAME=VALUE ...] < ROWS
#       the template once per line of ROWS; a line holds NAME=VALUE pairs separated by
#       tabs, which add to (or override) the ones given as arguments
#
# Every @NAME@ (capitals, digits, _) becomes VALUE, taken literally. Lines that start with
# ## are the template's own notes and are left out. A @NAME@ without a value is an error
# (exit 1): a template and its caller cannot drift apart in silence.
BEGIN {
    tpl = ARGV[1]
    for (i = 2; i < ARGC; i++) assign(fixed, ARGV[i])
    n = 0
    while ((r = (getline line < tpl)) > 0) if (line !~ /^##/) t[++n] = line
    if (r < 0) fail("cannot read " tpl)
    close(tpl)
    ARGC = 1 # the arguments are not files: rows, if any, come from stdin
    if (!rows) {
        emit(fixed)
        exit
    }
}
{
    delete v
    for (k in fixed) v[k] = fixed[k]
    m = split($0, pairs, "\t")
    for (i = 1; i <= m; i++) assign(v, pairs[i])
    emit(v)
}
function assign(vars, pair, eq) {
    eq = index(pair, "=")
    if (eq < 2) fail("not NAME=VALUE: " pair)
    vars[substr(pair, 1, eq - 1)] = substr(pair, eq + 1)
}
function emit(vars, i, rest, out, name) {
    for (i = 1; i <= n; i++) {
        rest = t[i]
        out = ""
        while (match(rest, /@[A-Z0-9_]+@/)) {
            name = substr(rest, RSTART + 1, RLENGTH - 2)
            if (!(name in vars)) fail(tpl ": no value for @" name "@")
            out = out substr(rest, 1, RSTART - 1) vars[name]
            rest = substr(rest, RSTART + RLENGTH)
        }
        print out rest
    }
}
function fail(msg) {
    print "render: " msg > "/dev/stderr"
    exit 1
}
