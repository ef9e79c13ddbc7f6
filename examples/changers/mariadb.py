#!/usr/bin/env python3
"""keyreeve changer for MariaDB / MySQL user passwords (docs/changers.md).

Inventory:
    [[clients.acme.targets]]
    name = "db2"
    kind = "script"
    changer = "changers/mariadb.py"
    address = "10.0.20.6"
    port = 3306
    login = "keyreeve_admin"        # a user with the CREATE USER privilege (or the user itself)
    [clients.acme.targets.params]
    account_host = "%"              # the host part of the accounts rotated ('user'@'host'); default %
    client = "/usr/bin/mariadb"     # optional (`mysql` for MySQL's client)
    ssl = true                      # optional: require TLS

Passwords never reach the client's argv or environment: it reads the login from a mode-0600
option file given with --defaults-file (read alone: nothing of /etc/mysql), and the SQL (with
the new password as a quoted literal) on its stdin.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

EXIT_REFUSED, EXIT_WRONG_CREDENTIALS, EXIT_FAILED = 3, 4, 1


def literal(text):
    # Backslash is an escape character unless NO_BACKSLASH_ESCAPES; doubling both is right in either mode
    # only for the quote, so the mode is fixed for the session below.
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def option_value(text):
    # Option files strip a pair of quotes and read \\ \" \' inside them; `#` in quotes is no comment.
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("'", "\\'") + '"'


class Server:
    def __init__(self, request):
        target = request["target"]
        params = target.get("params") or {}
        self.host = target["address"]
        self.port = target.get("port") or 3306
        self.account_host = params.get("account_host", "%")
        self.client = params.get("client", "mariadb")
        self.ssl = bool(params.get("ssl", False))
        self.dir = tempfile.mkdtemp(prefix="keyreeve-my-")

    def run(self, user, password, sql, force=False):
        """Runs `sql` logged in as `user`; returns (exit code, stdout, stderr)."""
        cnf = os.path.join(self.dir, "client.cnf")
        fd = os.open(cnf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("[client]\nuser=%s\npassword=%s\nhost=%s\nport=%d\nprotocol=TCP\nconnect-timeout=10\n"
                    % (option_value(user), option_value(password), self.host, self.port))
            if self.ssl:
                f.write("ssl\nssl-verify-server-cert\n")
        try:
            done = subprocess.run(
                # The client prints a failed statement (the password in it) unless told not to.
                [self.client, "--defaults-file=" + cnf, "-N", "-B", "-r", "--skip-print-query-on-error"]
                + (["--force"] if force else []),
                input="SET SESSION sql_mode = REPLACE(@@sql_mode, 'NO_BACKSLASH_ESCAPES', '');\n" + sql,
                capture_output=True, text=True,
            )
        finally:
            os.unlink(cnf)
        return done.returncode, done.stdout, done.stderr

    def close(self):
        os.rmdir(self.dir)


def bad_login(stderr):
    return re.search(r"ERROR 1045 ", stderr) is not None


def refused(stderr):
    # 1819: simple_password_check / cracklib / validate_password; 1396 from an admin ALTER USER
    # refused by password_reuse_check (the reason is only in the warnings, printed after it).
    return "ERROR 1819 " in stderr or "password_reuse_check" in stderr or "simple_password_check" in stderr


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
SELECT User, MAX(Super_priv = 'Y' OR Create_user_priv = 'Y' OR Grant_priv = 'Y'), GROUP_CONCAT(DISTINCT Host)
FROM mysql.user WHERE User <> '' GROUP BY User;
""")
        if code != 0 and "ERROR 1142 " in err:
            # Not allowed to read mysql.user (a user that only changes its own password): itself.
            code, out, err = server.run(login["username"], login["password"],
                                        "SELECT SUBSTRING_INDEX(CURRENT_USER(), '@', 1), 0, "
                                        "SUBSTRING_INDEX(CURRENT_USER(), '@', -1);\n")
        if code == 0:
            accounts = []
            for line in out.splitlines():
                name, admin, hosts = line.split("\t")
                accounts.append({"name": name, "admin": admin == "1",
                                 "privilege": "hosts " + hosts + (" admin" if admin == "1" else "")})
            print(json.dumps({"accounts": accounts}))
            return 0
    elif verb == "verify":
        code, out, err = server.run(account, request["password"], "SELECT 1;\n")
        if code == 0 or bad_login(err):
            print(json.dumps({"accepted": code == 0}))
            return 0
    elif verb in ("change", "rollback"):
        # `change` sets new_password; `rollback` puts old_password back.
        wanted = request["new_password"] if verb == "change" else request["old_password"]
        if account == login["username"]:
            sql = "SET PASSWORD = PASSWORD(%s);\n" % literal(wanted)
        else:
            sql = "ALTER USER %s@%s IDENTIFIED BY %s;\n" % (literal(account), literal(server.account_host),
                                                           literal(wanted))
        # An admin ALTER USER refused by a check plugin fails with 1396 and gives the reason only
        # in its warnings: --force runs SHOW WARNINGS after it. --force also makes the exit code 0
        # whatever failed, so success is an exit code of 0 with no error printed.
        code, out, err = server.run(login["username"], login["password"], sql + "SHOW WARNINGS;\n", force=True)
        if code == 0 and not re.search(r"^ERROR \d+", err, re.M):
            return 0
        err = err + out
        if refused(err):
            sys.stderr.write(err)
            return EXIT_REFUSED
    else:
        sys.stderr.write("unknown verb %r\n" % verb)
        return EXIT_FAILED
    sys.stderr.write(err)
    return EXIT_WRONG_CREDENTIALS if bad_login(err) else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
