"""The stand-in for a network namespace, used only when none could be made.

An audit hook refuses every ``socket.*`` event (except ``gethostname``).  Bypassable (ctypes,
subprocess); ``isolation_report()`` then says ``"network": "audit-hook"``.  The zygote installs
:func:`no_net` in the program process; the Popen path runs ``python -s -P -B nethook.py main.py``.
"""

import sys


def no_net(event, args):
    if event.startswith("socket.") and event != "socket.gethostname":
        raise PermissionError("network access is disabled in this sandbox")


if __name__ == "__main__":
    sys.addaudithook(no_net)
    del no_net
    sys.argv = sys.argv[1:]
    import runpy

    runpy.run_path(sys.argv[0], run_name="__main__")
