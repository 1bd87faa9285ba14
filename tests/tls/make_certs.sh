#!/usr/bin/env bash
# Makes the certificates the TLS tests use, with openssl, into DIR:
#   ca.crt ca.key          a CA the daemons and clients trust
#   server.crt server.key  signed by it, for 127.0.0.1 and localhost
#   client.crt client.key  signed by it, a client certificate (CN=client)
#   other-ca.crt           another CA, which trusts none of the above
#   rogue.crt rogue.key    a client certificate signed by the other CA
# Keys are P-256, valid for two days; nothing here is for real use.
set -euo pipefail
dir="$1"
mkdir -p "$dir"
cd "$dir"
ca() {  # name
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=$1" -keyout "$1.key" -out "$1.crt" 2>/dev/null
}
leaf() {  # name ca subject extensions
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$3" \
    -keyout "$1.key" -out "$1.csr" 2>/dev/null
  printf '%s\n' "$4" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" -CAcreateserial -days 2 \
    -extfile "$1.ext" -out "$1.crt" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
ca ca
ca other-ca
leaf server ca server "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth,clientAuth"
leaf client ca client "extendedKeyUsage=clientAuth"
leaf rogue other-ca rogue "extendedKeyUsage=clientAuth"
chmod 600 ./*.key
