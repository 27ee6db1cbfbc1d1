// One sequence of a decoder step as the CUDA kernels read it from device
// memory: the KV-cache slot it reads and extends (rows slot * n_ctx ..) and
// the position of its first new token. Plain C++: laid out as
// octet::SequenceStep, which the backend copies up before each step.
#pragma once

namespace octet::cuda {

struct DeviceSequence {
  int slot;
  int pos;
};

}  // namespace octet::cuda
