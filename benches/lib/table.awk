# table.awk: the rows of the report's markdown table (report in benches/lib/report.sh).
#
# Input, one line per row, fields separated by |:
#   measurement|unit|peer|better (higher or lower)|failoverd median|peer median
# A median is empty when nothing was measured (n/a). Output: the table's rows,
#   | measurement | unit | failoverd | peer | peer value | failoverd/peer | better | ahead |
# where "ahead" names the contender with the better median ("tie" when equal; a peer
# written "haproxy (reference)" is named "haproxy").
BEGIN { FS = "|" }
{
    name = $1; unit = $2; peer = $3; better = $4; f = $5; p = $6
    if (f == "" || p == "") {
        ratio = "n/a"
    } else if (p == 0) {
        ratio = (f == 0) ? "= (both 0)" : "inf"
    } else if (f / p < 0.1) {
        ratio = sprintf("%.3f", f / p)
    } else {
        ratio = sprintf("%.2f", f / p)
    }
    if (f == "" || p == "") ahead = "n/a"
    else if (f == p) ahead = "tie"
    else if ((better == "higher") == (f > p)) ahead = "failoverd"
    else { ahead = peer; sub(/ \(.*$/, "", ahead) }
    printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", name, unit, fmt(f), peer, fmt(p), ratio, better, ahead
}
# A number for the table: 3 or 4 significant digits, no exponent above 1000.
function fmt(v, a) {
    if (v == "") return "n/a"
    a = (v < 0) ? -v : v
    if (a >= 1000) return sprintf("%.0f", v)
    if (a >= 100) return sprintf("%.1f", v)
    if (a >= 10) return sprintf("%.2f", v)
    return sprintf("%.3g", v)
}
