#pragma once
// Where a tensor's storage lives. A CUDA build still runs everything on the CPU.

#include <string>

namespace onestep {

enum class DeviceType : uint8_t { cpu, cuda };

struct Device {
  DeviceType type = DeviceType::cpu;
  int index = 0;

  static Device cpu() { return {DeviceType::cpu, 0}; }
  static Device cuda(int index = 0) { return {DeviceType::cuda, index}; }
  bool is_cpu() const { return type == DeviceType::cpu; }
  bool is_cuda() const { return type == DeviceType::cuda; }
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string str() const;
};

// Parses "cpu", "cuda", "cuda:1"; throws onestep::Error on anything else.
Device parse_device(const std::string& text);
// `device`, or a clear error when it is a CUDA device and this build has no CUDA or this machine
// no usable GPU.
Device usable_device(Device device);
// parse_device, then usable_device.
Device usable_device(const std::string& text);

}  // namespace onestep
