#!/bin/bash
# Usage: tools/steal.sh CMD...
# Runs CMD and prints the share of the machine's CPU time taken by the hypervisor
# (steal) and spent in user + system while it ran, from the cpu line of /proc/stat.
read -r _ u1 n1 s1 i1 w1 q1 sq1 st1 _ < /proc/stat
"$@"
rc=$?
read -r _ u2 n2 s2 i2 w2 q2 sq2 st2 _ < /proc/stat
tot=$(( (u2+n2+s2+i2+w2+q2+sq2+st2) - (u1+n1+s1+i1+w1+q1+sq1+st1) ))
echo "steal: $(( 100*(st2-st1)/tot ))% (user+sys $(( 100*((u2+s2)-(u1+s1))/tot ))%)"
exit $rc
