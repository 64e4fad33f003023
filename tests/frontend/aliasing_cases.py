"""Aliasing / in-place TorchScript programs for tests/frontend/torchscript_alias_test.cpp.

Usage: aliasing_cases.py OUT_DIR. For every case, writes OUT_DIR/<case>.traced.pt and
<case>.scripted.pt (torch.jit.trace / torch.jit.script of the same module), <case>.input.npy and,
for cases the importer must accept, <case>.expected.npy: the eager module's output on a copy of the
input (the programs change their input in place). Checks that both TorchScript files give the
eager output too. Writes OUT_DIR/cases.txt: one line "<case> accept|refuse" per case.
"""
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class CloneThenInplaceOnSource(nn.Module):
    def forward(self, x):
        c = x.clone()
        x.relu_()
        return c + 2 * x


class InplaceOnClone(nn.Module):
    def forward(self, x):
        c = x.clone()
        c.mul_(3.0)
        return torch.cat([x, c], 1)


class ViewThenInplaceOnBase(nn.Module):
    def forward(self, x):
        y = x.view(x.size(0), -1)
        x.add_(1.0)
        return y * 2.0


class InplaceOnViewReachesBase(nn.Module):
    def forward(self, x):
        y = x.flatten(1)
        y.mul_(-2.0)
        return x + 1.0


class ChainedViews(nn.Module):
    def forward(self, x):  # x: [N, 3, 4]
        v = x.view(x.size(0), -1).unsqueeze(1)[:, :, 2:6]
        v.sigmoid_()
        w = x.permute(0, 2, 1)[:, 1]
        w.add_(10.0)
        return x * 1.0


class TransposeViewInplace(nn.Module):
    def forward(self, x):  # x: [N, 3, 4]
        t = x.transpose(1, 2)
        t.clamp_(-0.5, 0.5)
        x.mul_(2.0)
        return t.contiguous() + 0.0


class ReshapeCopiesWhereItCannotView(nn.Module):
    def forward(self, x):  # x: [N, 3, 4]
        r = x.transpose(1, 2).reshape(x.size(0), -1)  # not viewable: a copy
        f = x.reshape(x.size(0), -1)  # contiguous: a view
        x.relu_()
        return torch.cat([r, f], 1)


class ContiguousAliasesOnlyWhenContiguous(nn.Module):
    def forward(self, x):  # x: [N, 3, 4]
        c = x.contiguous()
        c.add_(1.0)
        d = x.transpose(1, 2).contiguous()
        d.add_(5.0)
        return x + d.transpose(1, 2)


class OpsOnAliases(nn.Module):
    def forward(self, x):  # x: [N, 4, 3]
        a = x[:, 0]
        a.add_(1.0)
        b = x.narrow(1, 1, 2)
        b.mul_(-2.0)
        b.relu_()
        c = x.select(2, 0)
        c.clamp_(-0.3, 0.3)
        d = x.permute(0, 2, 1)
        d.sigmoid_()
        return x * 1.0


class SplitPartsAreViews(nn.Module):
    def forward(self, x):  # x: [N, 4, 3]
        a, b = x.chunk(2, 1)
        a.mul_(10.0)
        b.sub_(1.0)
        return x + torch.cat([b, a], 1)


class CopyIntoView(nn.Module):
    def forward(self, x):  # x: [N, 4, 3]
        src = x[:, 0:2] * 2.0
        x[:, 2:4] = src
        return x + 0.0


class DetachAliasesAndInplaceDropout(nn.Module):
    def forward(self, x):
        d = x.detach()
        d.mul_(2.0)
        y = F.dropout(x, 0.5, False, True)  # nn.Dropout(inplace=True) in eval: x itself
        y.add_(1.0)
        return x * 1.0


class InplaceViewOpChangesTheTensor(nn.Module):
    def forward(self, x):  # x: [N, 3]
        y = x.clone()
        z = y.view(-1)
        y.t_()
        y.mul_(2.0)
        return y.reshape(-1) + z


class ConstantChangedAfterUse(nn.Module):
    def forward(self, x):  # x: [N, 4]
        c = torch.ones(4)
        y = x + c
        c.mul_(3.0)
        return y + x * c


class ResidualBlock(nn.Module):
    """torchvision's BasicBlock pattern: ReLU(inplace=True) and `out += identity`."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(4)

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        out = self.relu(out)
        y = self.relu(x)  # in place on the input: y is x
        y += x
        return out + y


class Counter(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("count", torch.zeros(1))

    def forward(self, x):
        self.count.add_(1.0)
        return x + self.count


class RefuseBufferUpdate(nn.Module):
    def __init__(self):
        super().__init__()
        self.counter = Counter()

    def forward(self, x):
        return self.counter(x)


class RefuseParameterUpdate(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(4))

    def forward(self, x):
        self.w.mul_(0.5)
        return x * self.w


class RefuseBroadcastCopy(nn.Module):
    def forward(self, x):  # x: [N, 4, 3]
        x[:, 0:2] = x[:, 3:4]
        return x + 0.0


class RefuseInplaceOnDropoutOutput(nn.Module):
    """Eager PyTorch aliases dropout's output in eval mode, scripted TorchScript does not."""

    def forward(self, x):
        y = F.dropout(x, 0.5, False)
        y.add_(2.0)
        return x * 1.0


class RefuseDataIntoConstant(nn.Module):
    def forward(self, x):  # x: [N, 4]
        c = torch.zeros(4)
        c.add_(x[0])
        return x + c


class RollAndStridedSlices(nn.Module):
    def forward(self, x):  # x: [N, 5, 6]
        r = torch.roll(x, shifts=(1, -2), dims=(1, 2))
        s = x[:, 0::2, 1::2]  # odd size: 3 of 5 rows
        t = x[:, 1:4:2, :5:3]
        return torch.cat([r.flatten(1), s.flatten(1), t.flatten(1), torch.roll(x, 7, 2).flatten(1)], 1)


class ConstantIndexAndMask(nn.Module):
    """Swin's relative position bias and shifted-window mask: a parameter gathered with a constant
    index buffer, a mask built from the input's shape by slice assignment, and masked_fill."""

    def __init__(self):
        super().__init__()
        self.table = nn.Parameter(torch.randn(7, 3))
        self.register_buffer("index", torch.tensor([[0, 1, 6, 2], [3, 3, 5, 4], [6, 0, 1, 2], [-1, 4, 2, 0]]))
        self.register_buffer("cols", torch.tensor([3, 0, 0, 2]))

    def forward(self, x):  # x: [N, 3, 4, 4]
        bias = self.table[self.index].permute(2, 0, 1)
        mask = x.new_zeros((x.size(2), x.size(3)))
        mask[0:2, 1:3] = 1
        mask[-1:, :] = 2
        mask = mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.5)
        return torch.index_select(x, 3, self.cols) + bias + mask


class RefuseWriteThroughStridedSlice(nn.Module):
    def forward(self, x):  # x: [N, 4, 3]
        x[:, ::2].mul_(2.0)
        return x + 0.0


class RefuseRollOfTheBatch(nn.Module):
    def forward(self, x):  # x: [N, 4]
        return torch.roll(x, 1, 0) + 1.0


class RefuseNewZerosOfTheBatchSize(nn.Module):
    def forward(self, x):  # x: [N, 4]
        m = x.new_zeros((x.size(0), 4))
        return x + m


class RefuseTwoIndexTensors(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("i", torch.tensor([0, 3]))
        self.register_buffer("j", torch.tensor([2, 1]))

    def forward(self, x):  # x: [N, 4, 3]
        return x[:, self.i, self.j] * 2.0


# name: (module class, input shape, accept)
CASES = {
    "clone_then_inplace_on_source": (CloneThenInplaceOnSource, [2, 5], True),
    "inplace_on_clone": (InplaceOnClone, [2, 5], True),
    "view_then_inplace_on_base": (ViewThenInplaceOnBase, [2, 3, 4], True),
    "inplace_on_view_reaches_base": (InplaceOnViewReachesBase, [2, 3, 4], True),
    "chained_views": (ChainedViews, [2, 3, 4], True),
    "transpose_view_inplace": (TransposeViewInplace, [2, 3, 4], True),
    "reshape_copies_where_it_cannot_view": (ReshapeCopiesWhereItCannotView, [2, 3, 4], True),
    "contiguous_aliases_only_when_contiguous": (ContiguousAliasesOnlyWhenContiguous, [2, 3, 4], True),
    "ops_on_aliases": (OpsOnAliases, [2, 4, 3], True),
    "split_parts_are_views": (SplitPartsAreViews, [2, 4, 3], True),
    "copy_into_view": (CopyIntoView, [2, 4, 3], True),
    "detach_aliases_and_inplace_dropout": (DetachAliasesAndInplaceDropout, [2, 5], True),
    "inplace_view_op_changes_the_tensor": (InplaceViewOpChangesTheTensor, [2, 3], True),
    "constant_changed_after_use": (ConstantChangedAfterUse, [2, 4], True),
    "residual_block": (ResidualBlock, [2, 4, 5, 5], True),
    "roll_and_strided_slices": (RollAndStridedSlices, [2, 5, 6], True),
    "constant_index_and_mask": (ConstantIndexAndMask, [2, 3, 4, 4], True),
    "refuse_buffer_update": (RefuseBufferUpdate, [2, 4], False),
    "refuse_parameter_update": (RefuseParameterUpdate, [2, 4], False),
    "refuse_broadcast_copy": (RefuseBroadcastCopy, [2, 4, 3], False),
    "refuse_data_into_constant": (RefuseDataIntoConstant, [2, 4], False),
    "refuse_inplace_on_dropout_output": (RefuseInplaceOnDropoutOutput, [2, 4], False),
    "refuse_write_through_strided_slice": (RefuseWriteThroughStridedSlice, [2, 4, 3], False),
    "refuse_roll_of_the_batch": (RefuseRollOfTheBatch, [2, 4], False),
    "refuse_new_zeros_of_the_batch_size": (RefuseNewZerosOfTheBatchSize, [2, 4], False),
    "refuse_two_index_tensors": (RefuseTwoIndexTensors, [2, 4, 3], False),
}


def randomise_batch_norm(m):
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 2.0)
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.uniform_(-0.5, 0.5)


def main(out):
    torch.manual_seed(0)
    lines = []
    for name, (cls, shape, accept) in CASES.items():
        m = cls().eval()
        randomise_batch_norm(m)
        x = torch.randn(shape)
        np.save(f"{out}/{name}.input.npy", x.numpy())
        with torch.no_grad():
            traced = torch.jit.trace(m, x.clone(), check_trace=False)
            scripted = torch.jit.script(m)
            expected = m(x.clone())
            for what, ts in (("traced", traced), ("scripted", scripted)):
                ts.save(f"{out}/{name}.{what}.pt")
                if accept:
                    got = torch.jit.load(f"{out}/{name}.{what}.pt")(x.clone())
                    assert torch.equal(got, expected), f"{name}: {what} TorchScript differs from eager"
        if accept:
            np.save(f"{out}/{name}.expected.npy", expected.numpy())
        lines.append(f"{name} {'accept' if accept else 'refuse'}\n")
    with open(f"{out}/cases.txt", "w") as f:
        f.writelines(lines)


if __name__ == "__main__":
    main(sys.argv[1])
