# percentiles.awk: the count and the nearest-rank 50th and 99th percentiles of numbers
# sorted in ascending order, one a line (sort -g), times -v scale (default 1):
#   COUNT P50 P99      with one decimal; "0 0 0" for no input
{ v[NR] = $1 }
END {
    if (scale == "") scale = 1
    if (NR == 0) { print "0 0 0"; exit }
    i50 = int(NR * 0.50 + 0.999999)
    i99 = int(NR * 0.99 + 0.999999)
    printf "%d %.1f %.1f\n", NR, v[i50] * scale, v[i99] * scale
}
