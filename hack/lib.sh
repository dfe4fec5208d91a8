# Shell helpers shared by the dev-cluster and demo scripts. Source it; it defines functions only.

# free_port prints a TCP port on 127.0.0.1 that nothing listens on. It picks from 20000–32767,
# below the kernel's ephemeral range (32768 and up by default), so that an outgoing connection
# cannot take the port between this check and the listener's bind.
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 12768))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  echo "no free port found" >&2
  return 1
}
