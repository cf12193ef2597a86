import numpy as np
import pytest
import torch

from gpun2d.errors import DataError
from gpun2d.handoff import like, shares_memory, to_cupy, to_device_array, to_numpy, to_torch


def test_numpy_to_torch_is_zero_copy():
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    tensor = to_torch(array)
    assert shares_memory(array, tensor)
    array[0, 0] = 42.0
    assert tensor[0, 0].item() == 42.0


def test_torch_to_numpy_is_zero_copy_on_cpu():
    tensor = torch.zeros(5)
    array = to_numpy(tensor)
    assert shares_memory(tensor, array)
    tensor[1] = 7
    assert array[1] == 7


def test_device_array_on_cpu_is_a_numpy_view():
    tensor = torch.ones(2, 3)
    array = to_device_array(tensor)
    assert isinstance(array, np.ndarray) and shares_memory(tensor, array)


def test_dlpack_producer_is_wrapped_without_copy():
    source = torch.arange(6.0)

    class Producer:  # any object speaking DLPack, as CuPy arrays do
        def __dlpack__(self, **kwargs):
            return source.__dlpack__(**kwargs)

        def __dlpack_device__(self):
            return source.__dlpack_device__()

    assert shares_memory(to_torch(Producer()), source)


def test_like_returns_the_reference_type():
    tensor = torch.arange(3)
    assert like(tensor, np.zeros(1)).__class__ is np.ndarray
    assert like(tensor, torch.zeros(1)) is tensor


def test_to_cupy_rejects_cpu_tensors():
    pytest.importorskip("cupy")
    with pytest.raises(DataError, match="needs a CUDA tensor"):
        to_cupy(torch.zeros(3))


def test_unconvertible_input_is_a_data_error():
    with pytest.raises(DataError, match="cannot turn"):
        to_torch(object())


@pytest.mark.gpu
def test_torch_cupy_round_trip_shares_device_memory():
    cupy = pytest.importorskip("cupy")
    tensor = torch.arange(10, dtype=torch.float32, device="cuda")
    array = to_cupy(tensor)
    assert isinstance(array, cupy.ndarray) and shares_memory(tensor, array)
    array[0] = 5
    assert tensor[0].item() == 5
    back = to_torch(array)
    assert back.data_ptr() == tensor.data_ptr()
