"""nst command line (thin absl entry point). The engine and experiments land in later issues."""

from absl import app


def main(argv: list[str]) -> None:
    del argv
    print("nst: use --helpfull to list the flags.")


if __name__ == "__main__":
    app.run(main)
