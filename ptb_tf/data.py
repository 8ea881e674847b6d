r"""Gets PTB: `python -m ptb_tf.data download --data_path=DIR`.

    python -m ptb_tf.data download                  # into the cache folder
    python -m ptb_tf.data download --data_path=data/ptb
    python -m ptb_tf.data download --download_url=http://mirror/simple-examples.tgz \
        --sha256=<the archive's SHA-256>

Fetches Mikolov's `simple-examples.tgz` (34 MB), verifies it, and extracts
ptb.train.txt, ptb.valid.txt and ptb.test.txt into --data_path (the folder
train then reads with the same flag). Verification: by default each
extracted file against the SHA-256 of PTB's published files (the archive
itself has no published digest); with --sha256, the archive.
Nothing is left half-done: the archive is written to a temporary file, the
files are verified before they move into the folder, and files already there
are kept as they are. A folder that already holds the three files is left
alone.

`python -m ptb_tf.train` without a data flag reads PTB from the cache folder
($PTB_TF_CACHE, else $XDG_CACHE_HOME/ptb_tf, else ~/.cache/ptb_tf; PTB in its
`ptb` folder) and downloads it there first when it is empty.
"""


from absl import flags

from ptb_tf import cli
from ptb_tf.corpus import ptb
from ptb_tf.errors import UsageError


FLAGS = flags.FLAGS


def define_flags(flag_values: flags.FlagValues = FLAGS) -> None:
    flags.DEFINE_string("data_path", None,
                        "Folder for ptb.{train,valid,test}.txt (default: the "
                        "cache folder train reads when given no data flag).",
                        flag_values=flag_values)
    flags.DEFINE_string("download_url", ptb.DEFAULT_URL,
                        "Where simple-examples.tgz is.", flag_values=flag_values)
    # The names before train's data flags became every command's.
    cli.define_old_name("dest", "data_path", flag_values)
    cli.define_old_name("url", "download_url", flag_values)
    flags.DEFINE_string("sha256", None,
                        "The archive's SHA-256; without it, the three "
                        "extracted files are checked against PTB's.",
                        flag_values=flag_values)


def main(argv):
    if len(argv) != 2 or argv[1] != "download":
        raise UsageError("usage: python -m ptb_tf.data download "
                         "[--data_path=DIR] [--download_url=URL] [--sha256=HEX]")
    sha256 = FLAGS.sha256
    if sha256 is not None and (len(sha256) != 64 or any(
            char not in "0123456789abcdefABCDEF" for char in sha256)):
        raise UsageError("--sha256 must be 64 hexadecimal digits. Received: "
                         f"sha256={sha256}")
    ptb.download(FLAGS.data_path or ptb.cache_folder(), FLAGS.download_url, sha256,
                 log=lambda line: print(line, flush=True))


run = cli.command(define_flags, main,
                  "interrupted: nothing was extracted; run again")


if __name__ == "__main__":
    run()
