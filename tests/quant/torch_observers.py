"""Reference qparams from torch.ao.quantization's observers, for tests/quant/quantizer_test.cpp.

Usage: /usr/bin/python3 torch_observers.py DIR
DIR/cases.json lists cases {name, observer, qscheme, dtype, bits, reduce_range, ch_axis,
averaging_constant, batches: [npy files]}. Each case's observer sees its batches in order; its
calculate_qparams() goes to DIR/<name>.scale.npy and DIR/<name>.zero_point.npy.
"""
import json
import os
import sys

import numpy as np
import torch
from torch.ao.quantization import observer as obs

SCHEMES = {
    "per_tensor_affine": torch.per_tensor_affine,
    "per_tensor_symmetric": torch.per_tensor_symmetric,
    "per_channel_affine": torch.per_channel_affine,
    "per_channel_symmetric": torch.per_channel_symmetric,
}
DTYPES = {"qint8": torch.qint8, "quint8": torch.quint8}


def make(case):
    qscheme = SCHEMES[case["qscheme"]]
    dtype = DTYPES[case["dtype"]]
    kw = dict(dtype=dtype, qscheme=qscheme, reduce_range=case["reduce_range"])
    if case["bits"] != 8:
        b = case["bits"]
        kw["quant_min"], kw["quant_max"] = (-(1 << (b - 1)), (1 << (b - 1)) - 1) if dtype == torch.qint8 else (0, (1 << b) - 1)
    per_channel = case["qscheme"].startswith("per_channel")
    if case["observer"] == "minmax":
        return obs.PerChannelMinMaxObserver(ch_axis=case["ch_axis"], **kw) if per_channel else obs.MinMaxObserver(**kw)
    c = case["averaging_constant"]
    if per_channel:
        return obs.MovingAveragePerChannelMinMaxObserver(averaging_constant=c, ch_axis=case["ch_axis"], **kw)
    return obs.MovingAverageMinMaxObserver(averaging_constant=c, **kw)


def main():
    d = sys.argv[1]
    with open(os.path.join(d, "cases.json")) as f:
        cases = json.load(f)
    for case in cases:
        o = make(case)
        for b in case["batches"]:
            o(torch.from_numpy(np.load(os.path.join(d, b))))
        scale, zp = o.calculate_qparams()
        np.save(os.path.join(d, case["name"] + ".scale.npy"), scale.numpy().astype(np.float32).reshape(-1))
        np.save(os.path.join(d, case["name"] + ".zero_point.npy"), zp.numpy().astype(np.int64).reshape(-1))


if __name__ == "__main__":
    main()
