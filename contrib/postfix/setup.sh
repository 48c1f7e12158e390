#!/bin/sh
# rebound + Postfix: the one-time set-up (run as root; read it first)
set -e
id rebound >/dev/null 2>&1 || useradd --system --home-dir /var/lib/rebound --shell /usr/sbin/nologin rebound
install -d -o rebound -g rebound -m 0750 /var/lib/rebound
install -d -m 0755 /etc/rebound
[ -s /etc/rebound/verp.key ] || (umask 027; head -c 32 /dev/urandom | base64 > /etc/rebound/verp.key)
chgrp rebound /etc/rebound/verp.key && chmod 0640 /etc/rebound/verp.key
# the pipe user must be able to run /usr/local/bin/rebound and read /usr/local/share/rebound
# run other rebound commands on this store as rebound too (runuser -u rebound -- rebound ...):
# SQLite's -wal/-shm files must stay writable by the pipe
# DNS: bounce.example.org. MX 10 <this host>  (the return paths' domain must reach this Postfix)
# then: append main.cf and master.cf to /etc/postfix/*, copy rebound_transport and
# rebound_recipients to /etc/postfix/, and run: postfix check && postfix reload
