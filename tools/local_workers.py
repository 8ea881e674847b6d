r"""Starts a multi-worker training on this machine: N `python -m ptb_tf.train`
processes, each with the TF_CONFIG of its place in one cluster on 127.0.0.1.

    python tools/local_workers.py --workers=2 -- \
        --model=test --save_path=runs/two --results_file=runs/worker{index}.json

Everything after `--` goes to every worker, `{index}` made the worker's
index; `--strategy=multi_worker` is added. Each worker's lines are printed
with a `[worker I]` prefix. Stopped with Ctrl-C, every worker is stopped;
the same command then resumes from the chief's latest checkpoint. Exits with
the first non-zero exit code of a worker (0 if all succeeded).

On real machines, start the same train command on each with TF_CONFIG set
by hand (docs/configs.md, "Several machines").
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import threading


def free_ports(count):
    """Ports free on 127.0.0.1 now (the kernel's choice)."""
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def tf_config(workers, index):
    return json.dumps({"cluster": {"worker": workers},
                       "task": {"type": "worker", "index": index}})


def relay(index, stream, out):
    for line in stream:
        out.write(f"[worker {index}] {line}")
        out.flush()


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2,
                        help="how many workers (default 2)")
    parser.add_argument("train_flags", nargs="*",
                        help="ptb_tf.train's flags, after --")
    args = parser.parse_args()
    if args.workers < 1:
        parser.error(f"--workers must be >= 1. Received: {args.workers}")
    workers = [f"127.0.0.1:{port}" for port in free_ports(args.workers)]
    processes, relays = [], []
    for index in range(args.workers):
        flags = [flag.replace("{index}", str(index)) for flag in args.train_flags]
        process = subprocess.Popen(
            [sys.executable, "-m", "ptb_tf.train", *flags,
             "--strategy=multi_worker"],
            env=dict(os.environ, TF_CONFIG=tf_config(workers, index)),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        processes.append(process)
        for stream, out in ((process.stdout, sys.stdout),
                            (process.stderr, sys.stderr)):
            relays.append(threading.Thread(target=relay,
                                           args=(index, stream, out)))
            relays[-1].start()
    try:
        codes = [process.wait() for process in processes]
    except KeyboardInterrupt:
        for process in processes:
            process.terminate()
        codes = [process.wait() for process in processes]
        print("interrupted: run the same command to resume", file=sys.stderr)
        return 130
    finally:
        for thread in relays:
            thread.join()
    return next((code for code in codes if code), 0)


if __name__ == "__main__":
    sys.exit(main())
