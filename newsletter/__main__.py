"""The `newsletter` command and `python -m newsletter`.

Most commands load some 400 modules, render once and exit. The cyclic garbage collector would
scan those modules' objects over and over while they load (about 15 ms), and once more at exit
(another 15 ms) to free memory the process is about to give back anyway. So it is paused here,
and the commands that run for long (`LONG_RUNNING` in cli) switch it back on.
"""

import gc


def run() -> None:
    gc.disable()
    try:
        from newsletter.cli import main

        main()
    finally:
        gc.freeze()  # nothing left for the collector to scan at exit


if __name__ == "__main__":
    run()
