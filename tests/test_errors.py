"""errors.reason: the one line of an exception that a user is shown."""

from ptb_tf.errors import reason


class OpError(Exception):
    """What a TensorFlow op error looks like: its text in .message."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


def test_an_os_error_is_its_strerror():
    assert reason(OSError(28, "No space left on device")) == "No space left on device"


def test_a_file_op_error_loses_its_function_temp_path_and_op():
    error = OpError("{{function_node __wrapped__SaveV2_device_/job:localhost/"
                    "replica:0/task:0/device:CPU:0}} /tmp/x/.export-ab12/"
                    "variables/part-0.tempstate123; No space left on device "
                    "[Op:SaveV2]")
    assert reason(error) == "No space left on device"


def test_only_the_first_line_and_other_text_kept():
    assert reason(OpError("Read less bytes than requested\nmore")) == \
        "Read less bytes than requested"
    assert reason(ValueError("a; b")) == "a; b"
    assert reason(KeyError()) == "KeyError"
