#!/bin/sh
# Makes throw-away test certificates in DIR (EC P-256, valid for 2 days) with the openssl
# CLI: a CA, a server certificate for 127.0.0.1/localhost, a client certificate (CN
# alice), a revoked client certificate (CN mallory) and the CA's CRL listing it, a
# second, unrelated CA with its own client (CN eve), for use_identity_as_username a
# client with CN sensor-7 (sensor) and one whose subject has no CN (no-cn), and a CA
# valid 2000-2100 with a client certificate that expired in 2002 (CN old), one valid
# from 2090 (CN young) and one valid throughout (CN timeless), and an intermediate of it
# valid from 2050 with a client that expired in 2002 (CN orphan: never valid together
# with its intermediate).
# Nothing here is ever committed.
#   usage: tests/tls/make-certs.sh DIR
set -eu
dir=$1
mkdir -p "$dir"
cd "$dir"

key() { openssl ecparam -name prime256v1 -genkey -noout -out "$1" 2>/dev/null; }

cat > ext.cnf <<'CNF'
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
CNF

# ca NAME: a self-signed CA.
ca() {
    key "$1.key"
    openssl req -x509 -new -key "$1.key" -subj "/CN=Sol test $1" -days 2 \
        -extensions ca -config ext.cnf -out "$1.crt" 2>/dev/null
}

# leaf_subject NAME SUBJECT ISSUER EXT: a certificate signed by ISSUER.
leaf_subject() {
    key "$1.key"
    openssl req -new -key "$1.key" -subj "$2" -out "$1.csr" 2>/dev/null
    openssl x509 -req -in "$1.csr" -CA "$3.crt" -CAkey "$3.key" -CAcreateserial -days 2 \
        -extfile ext.cnf -extensions "$4" -out "$1.crt" 2>/dev/null
}

# leaf NAME CN ISSUER EXT: a certificate for /CN=CN signed by ISSUER.
leaf() { leaf_subject "$1" "/CN=$2" "$3" "$4"; }

# `openssl req` wants a config with these sections even with -subj.
cat >> ext.cnf <<'CNF'
[req]
distinguished_name = dn
[dn]
CNF

ca ca
ca other-ca
leaf server localhost ca server
leaf client alice ca client
leaf revoked mallory ca client
leaf other-client eve other-ca client
leaf sensor sensor-7 ca client
leaf_subject no-cn "/O=Sol test/OU=no common name" ca client

# The CA's CRL, revoking mallory (openssl ca keeps its state in files).
: > index.txt
echo 01 > crlnumber
cat > ca.cnf <<'CNF'
[ca]
default_ca = test
[test]
database = index.txt
crlnumber = crlnumber
certificate = ca.crt
private_key = ca.key
default_md = sha256
default_crl_days = 2
CNF
openssl ca -config ca.cnf -revoke revoked.crt 2>/dev/null
openssl ca -config ca.cnf -gencrl -out ca.crl 2>/dev/null

# A CA valid from 2000 to 2100 and two clients outside their dates (openssl ca is the
# CLI's only way to set a start date).
cat > dates.cnf <<'CNF'
[ca]
default_ca = dates
[dates]
database = dates-index.txt
new_certs_dir = .
serial = dates.srl
default_md = sha256
policy = any
[any]
commonName = supplied
CNF
: > dates-index.txt
echo 1000 > dates.srl
# dated_ca NAME START END: a self-signed CA valid from START to END.
dated_ca() {
    key "$1.key"
    openssl req -new -key "$1.key" -subj "/CN=Sol test $1" -config ext.cnf \
        -out "$1.csr" 2>/dev/null
    openssl ca -batch -config dates.cnf -selfsign -keyfile "$1.key" -in "$1.csr" \
        -startdate "$2" -enddate "$3" -extfile ext.cnf -extensions ca -out "$1.crt" 2>/dev/null
}

# dated NAME CN START END [CA [EXT]]: a certificate signed by CA (default dates-ca) valid
# from START to END, with the extensions EXT (default client; ca for an intermediate).
dated() {
    ca=${5:-dates-ca}
    key "$1.key"
    openssl req -new -key "$1.key" -subj "/CN=$2" -config ext.cnf -out "$1.csr" 2>/dev/null
    openssl ca -batch -config dates.cnf -cert "$ca.crt" -keyfile "$ca.key" \
        -in "$1.csr" -startdate "$3" -enddate "$4" -extfile ext.cnf -extensions "${6:-client}" \
        -out "$1.crt" 2>/dev/null
}

dated_ca dates-ca 20000101000000Z 21000101000000Z
dated expired old 20010101000000Z 20020101000000Z
dated timeless timeless 20000101000000Z 21000101000000Z
dated future young 20900101000000Z 20910101000000Z
# An intermediate CA of dates-ca issued in 2050 and a client of it that expired in 2002:
# never valid together. orphan.crt holds the chain (client, then intermediate).
dated late-int "Sol test late-int" 20500101000000Z 21000101000000Z dates-ca ca
dated orphan orphan 20010101000000Z 20020101000000Z late-int
cat late-int.crt >> orphan.crt
