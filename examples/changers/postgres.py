#!/usr/bin/env python3
"""keyreeve changer for PostgreSQL role passwords (docs/changers.md).

Inventory:
    [[clients.acme.targets]]
    name = "db1"
    kind = "script"
    changer = "changers/postgres.py"
    address = "10.0.20.5"
    port = 5432
    login = "keyreeve_admin"        # a role with CREATEROLE (or the role itself, for a self-change)
    [clients.acme.targets.params]
    database = "postgres"           # optional
    sslmode = "verify-full"         # optional, passed to libpq as is (default: prefer)
    psql = "/usr/bin/psql"          # optional

Passwords never reach psql's argv or environment: psql reads the login's password from a
mode-0600 passfile named by path in the conninfo, and the SQL (with the new password as a
quoted literal) on its stdin. Note that PostgreSQL writes a statement that fails (e.g. one its
password check refuses) to the server log, password included, unless log_min_error_statement
is raised by a superuser.
"""
import json
import os
import subprocess
import sys
import tempfile

EXIT_REFUSED, EXIT_WRONG_CREDENTIALS, EXIT_FAILED = 3, 4, 1


def ident(name):
    return '"' + name.replace('"', '""') + '"'


def literal(text):
    # With standard_conforming_strings on (set below), only the quote is special.
    return "'" + text.replace("'", "''") + "'"


def passfile_field(text):
    return text.replace("\\", "\\\\").replace(":", "\\:")


def conninfo_value(text):
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


class Server:
    def __init__(self, request):
        target = request["target"]
        params = target.get("params") or {}
        self.host = target["address"]
        self.port = target.get("port") or 5432
        self.database = params.get("database", "postgres")
        self.sslmode = params.get("sslmode", "prefer")
        self.psql = params.get("psql", "psql")
        self.dir = tempfile.mkdtemp(prefix="keyreeve-pg-")

    def run(self, user, password, sql):
        """Runs `sql` logged in as `user`; returns (exit code, stdout, stderr)."""
        passfile = os.path.join(self.dir, "pgpass")
        fd = os.open(passfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("*:*:*:%s:%s\n" % (passfile_field(user), passfile_field(password)))
        conninfo = " ".join(
            "%s=%s" % (k, conninfo_value(str(v)))
            for k, v in [
                ("host", self.host),
                ("port", self.port),
                ("dbname", self.database),
                ("user", user),
                ("passfile", passfile),
                ("sslmode", self.sslmode),
                ("connect_timeout", 10),
            ]
        )
        try:
            done = subprocess.run(
                [self.psql, "-X", "-w", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=verbose",
                 "-d", conninfo, "-f", "-"],
                input="SET standard_conforming_strings = on;\n" + sql,
                capture_output=True, text=True,
            )
        finally:
            os.unlink(passfile)
        return done.returncode, done.stdout, done.stderr

    def close(self):
        os.rmdir(self.dir)


def bad_login(stderr):
    return "password authentication failed" in stderr or "no password supplied" in stderr


def main():
    verb = sys.argv[1] if len(sys.argv) == 2 else ""
    request = json.load(sys.stdin)
    server = Server(request)
    try:
        return act(verb, request, server)
    finally:
        server.close()


def act(verb, request, server):
    login = request["login"]
    account = request.get("account")
    if verb == "list":
        code, out, err = server.run(login["username"], login["password"], """
SELECT coalesce(json_agg(json_build_object(
    'name', rolname, 'admin', rolsuper OR rolcreaterole, 'enabled', rolcanlogin,
    'privilege', concat_ws(' ', CASE WHEN rolsuper THEN 'superuser' END,
                                CASE WHEN rolcreaterole THEN 'createrole' END))), '[]')
FROM pg_roles WHERE rolname !~ '^pg_';
""")
        if code == 0:
            print(json.dumps({"accounts": json.loads(out.strip())}))
            return 0
    elif verb == "verify":
        # A fresh login as the account itself, with the password to prove.
        code, out, err = server.run(account, request["password"], "SELECT 1;\n")
        if code == 0 or bad_login(err):
            print(json.dumps({"accepted": code == 0}))
            return 0
    elif verb in ("change", "rollback"):
        # `change` sets new_password; `rollback` puts old_password back.
        wanted = request["new_password"] if verb == "change" else request["old_password"]
        role = "CURRENT_USER" if account == login["username"] else ident(account)
        code, out, err = server.run(login["username"], login["password"],
                                    "ALTER ROLE %s PASSWORD %s;\n" % (role, literal(wanted)))
        if code == 0:
            return 0
        if "ERROR:  22023:" in err:
            sys.stderr.write(err)
            return EXIT_REFUSED
    else:
        sys.stderr.write("unknown verb %r\n" % verb)
        return EXIT_FAILED
    sys.stderr.write(err)
    return EXIT_WRONG_CREDENTIALS if bad_login(err) else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
