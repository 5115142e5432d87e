"""Start or stop a throwaway PostgreSQL from the pip package `pgserver` (used by scripts/test
only when no PostgreSQL answers on 127.0.0.1:5432). `start DIR` prints a DATABASE_URL."""

import sys


def main() -> None:
    action, folder = sys.argv[1], sys.argv[2]
    import pgserver

    if action == "start":
        server = pgserver.get_server(folder, cleanup_mode=None)
        print(server.get_uri())
    else:
        server = pgserver.get_server(folder, cleanup_mode="stop")
        server.cleanup()


if __name__ == "__main__":
    main()
