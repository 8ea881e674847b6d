"""An export loaded the way TensorFlow Serving loads it: the C++ loader.

TensorFlow Serving loads a SavedModel with the C++ `LoadSavedModel`
(a SavedModelBundle): it imports the MetaGraphDef of the given tags, runs the
restore op and the init op (which fills the vocabulary tables from the
asset), and runs signatures by tensor name in a session. The TensorFlow wheel
exposes that same loader through its C API, `TF_LoadSessionFromSavedModel`
and `TF_SessionRun` in libtensorflow_cc.so.2; this module drives it with
ctypes, so that tests run an export through Serving's loading path and not
through Python's `tf.saved_model.load` (a different, object-based loader).

    model = CApiSavedModel("saved_models/ptb_small/1")
    model.run("score", words=np.array([["the", "market"]], object))
    # {"log_probability": array([...], float32), ...}

Strings cross the C API as TF_TString (24 bytes each), written and read with
the API's own TF_String* functions.
"""

import ctypes
import os
from typing import Dict

import numpy as np

_TF_FLOAT, _TF_INT32, _TF_STRING, _TF_INT64 = 1, 3, 7, 9
_NUMPY = {_TF_FLOAT: np.float32, _TF_INT32: np.int32, _TF_INT64: np.int64}
_TSTRING_BYTES = 24  # sizeof(TF_TString)


class _Buffer(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("length", ctypes.c_size_t),
                ("data_deallocator", ctypes.c_void_p)]


class _Output(ctypes.Structure):
    _fields_ = [("oper", ctypes.c_void_p), ("index", ctypes.c_int)]


def _library() -> ctypes.CDLL:
    """libtensorflow_cc.so.2 of the installed wheel, with argument types."""
    import tensorflow  # pylint: disable=g-import-not-at-top
    lib = ctypes.CDLL(os.path.join(os.path.dirname(tensorflow.__file__),
                                   "libtensorflow_cc.so.2"))
    pointer, size = ctypes.c_void_p, ctypes.c_size_t
    signatures = {
        "TF_NewStatus": ([], pointer), "TF_DeleteStatus": ([pointer], None),
        "TF_GetCode": ([pointer], ctypes.c_int),
        "TF_Message": ([pointer], ctypes.c_char_p),
        "TF_NewGraph": ([], pointer), "TF_DeleteGraph": ([pointer], None),
        "TF_NewSessionOptions": ([], pointer),
        "TF_DeleteSessionOptions": ([pointer], None),
        "TF_NewBuffer": ([], ctypes.POINTER(_Buffer)),
        "TF_DeleteBuffer": ([ctypes.POINTER(_Buffer)], None),
        "TF_LoadSessionFromSavedModel": (
            [pointer, pointer, ctypes.c_char_p,
             ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, pointer,
             ctypes.POINTER(_Buffer), pointer], pointer),
        "TF_CloseSession": ([pointer, pointer], None),
        "TF_DeleteSession": ([pointer, pointer], None),
        "TF_GraphOperationByName": ([pointer, ctypes.c_char_p], pointer),
        "TF_SessionRun": (
            [pointer, pointer, ctypes.POINTER(_Output),
             ctypes.POINTER(pointer), ctypes.c_int, ctypes.POINTER(_Output),
             ctypes.POINTER(pointer), ctypes.c_int, pointer, ctypes.c_int,
             pointer, pointer], None),
        "TF_AllocateTensor": ([ctypes.c_int, ctypes.POINTER(ctypes.c_int64),
                               ctypes.c_int, size], pointer),
        "TF_DeleteTensor": ([pointer], None),
        "TF_TensorData": ([pointer], pointer),
        "TF_TensorByteSize": ([pointer], size),
        "TF_TensorType": ([pointer], ctypes.c_int),
        "TF_NumDims": ([pointer], ctypes.c_int),
        "TF_Dim": ([pointer, ctypes.c_int], ctypes.c_int64),
        "TF_StringInit": ([pointer], None),
        "TF_StringCopy": ([pointer, ctypes.c_char_p, size], None),
        "TF_StringGetDataPointer": ([pointer], pointer),
        "TF_StringGetSize": ([pointer], size),
        "TF_StringDealloc": ([pointer], None),
    }
    for name, (arguments, result) in signatures.items():
        function = getattr(lib, name)
        function.argtypes, function.restype = arguments, result
    return lib


class CApiError(RuntimeError):
    """A non-OK TF_Status: code is TensorFlow's error code (3: invalid
    argument)."""

    def __init__(self, code: int, message: str):
        super().__init__(f"TF_Code {code}: {message}")
        self.code = code


class CApiSavedModel:
    """A SavedModel loaded by TensorFlow's C++ loader, run by signature name."""

    def __init__(self, path: str, tags=("serve",)):
        from tensorflow.core.protobuf import meta_graph_pb2  # pylint: disable=g-import-not-at-top
        self._lib = lib = _library()
        self._graph = lib.TF_NewGraph()
        options = lib.TF_NewSessionOptions()
        meta_graph = lib.TF_NewBuffer()
        tag_array = (ctypes.c_char_p * len(tags))(
            *[tag.encode() for tag in tags])
        try:
            self._session = self._checked(
                lib.TF_LoadSessionFromSavedModel, options, None,
                path.encode(), tag_array, len(tags), self._graph, meta_graph)
            proto = meta_graph_pb2.MetaGraphDef()
            proto.ParseFromString(ctypes.string_at(meta_graph.contents.data,
                                                   meta_graph.contents.length))
        finally:
            lib.TF_DeleteBuffer(meta_graph)
            lib.TF_DeleteSessionOptions(options)
        self.signatures = dict(proto.signature_def)

    def _checked(self, function, *arguments):
        """Calls a C API function whose last argument is a TF_Status."""
        status = self._lib.TF_NewStatus()
        try:
            result = function(*arguments, status)
            code = self._lib.TF_GetCode(status)
            if code:
                raise CApiError(code, self._lib.TF_Message(status).decode())
            return result
        finally:
            self._lib.TF_DeleteStatus(status)

    def _output(self, tensor_name: str) -> _Output:
        """"op:index" -> TF_Output."""
        op_name, index = tensor_name.rsplit(":", 1)
        operation = self._lib.TF_GraphOperationByName(self._graph,
                                                      op_name.encode())
        if not operation:
            raise KeyError(f"no operation {op_name} in the loaded graph")
        return _Output(operation, int(index))

    def _tensor(self, value: np.ndarray, dtype: int):
        """A new TF_Tensor holding value (strings as TF_TString)."""
        lib = self._lib
        dims = (ctypes.c_int64 * value.ndim)(*value.shape)
        if dtype == _TF_STRING:
            tensor = lib.TF_AllocateTensor(dtype, dims, value.ndim,
                                           value.size * _TSTRING_BYTES)
            base = lib.TF_TensorData(tensor)
            for offset, item in enumerate(value.ravel()):
                data = item.encode("utf-8") if isinstance(item, str) else item
                element = base + offset * _TSTRING_BYTES
                lib.TF_StringInit(element)
                lib.TF_StringCopy(element, data, len(data))
            return tensor
        value = np.array(value, _NUMPY[dtype], order="C")  # keeps 0-d 0-d
        tensor = lib.TF_AllocateTensor(dtype, dims, value.ndim, value.nbytes)
        ctypes.memmove(lib.TF_TensorData(tensor), value.ctypes.data,
                       value.nbytes)
        return tensor

    def _array(self, tensor) -> np.ndarray:
        lib = self._lib
        shape = [lib.TF_Dim(tensor, axis) for axis in range(lib.TF_NumDims(tensor))]
        dtype = lib.TF_TensorType(tensor)
        base = lib.TF_TensorData(tensor)
        if dtype == _TF_STRING:
            items = []
            for offset in range(int(np.prod(shape, dtype=np.int64))):
                element = base + offset * _TSTRING_BYTES
                items.append(ctypes.string_at(
                    lib.TF_StringGetDataPointer(element),
                    lib.TF_StringGetSize(element)))
            return np.array(items, object).reshape(shape)
        size = lib.TF_TensorByteSize(tensor)
        return np.frombuffer(ctypes.string_at(base, size),
                             _NUMPY[dtype]).reshape(shape).copy()

    def run(self, signature: str, **inputs) -> Dict[str, np.ndarray]:
        """Runs a signature on numpy inputs; returns its outputs by name.

        Raises CApiError (code 3 for a refused request) as a server would
        answer it; the session stays usable.
        """
        definition = self.signatures[signature]
        if set(inputs) != set(definition.inputs):
            raise KeyError(f"{signature} takes {sorted(definition.inputs)}; "
                           f"received {sorted(inputs)}")
        input_names = sorted(inputs)
        output_names = sorted(definition.outputs)
        feeds = (_Output * len(input_names))(
            *[self._output(definition.inputs[name].name) for name in input_names])
        # A signature's DataType enum has TF_DataType's numbers.
        values = [self._tensor(np.asarray(inputs[name]),
                               definition.inputs[name].dtype)
                  for name in input_names]
        fetches = (_Output * len(output_names))(
            *[self._output(definition.outputs[name].name)
              for name in output_names])
        input_values = (ctypes.c_void_p * len(values))(*values)
        output_values = (ctypes.c_void_p * len(output_names))()
        try:
            self._checked(self._lib.TF_SessionRun, self._session, None, feeds,
                          input_values, len(values), fetches, output_values,
                          len(output_names), None, 0, None)
            return {name: self._array(tensor)
                    for name, tensor in zip(output_names, output_values)}
        finally:
            for tensor in values + [t for t in output_values if t]:
                self._lib.TF_DeleteTensor(tensor)

    def close(self) -> None:
        if self._session:
            self._checked(self._lib.TF_CloseSession, self._session)
            self._checked(self._lib.TF_DeleteSession, self._session)
            self._lib.TF_DeleteGraph(self._graph)
            self._session = None

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()
