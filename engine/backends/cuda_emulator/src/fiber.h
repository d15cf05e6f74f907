#pragma once
// Execution contexts for the threads of a cooperative block. glibc's swapcontext saves and
// restores the signal mask with a system call on every switch, which made a reduction test
// spend most of its time in the kernel; on x86-64 a switch here saves the callee-saved registers
// and the floating-point control words and swaps stacks, nothing more. Elsewhere, ucontext.

#include <cstddef>

#if defined(__x86_64__) && defined(__linux__)
#define ONESTEP_EMULATOR_STACK_SWITCH 1
#else
#include <ucontext.h>
#endif

#if defined(__SANITIZE_ADDRESS__)
#define ONESTEP_EMULATOR_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ONESTEP_EMULATOR_ASAN 1
#endif
#endif

namespace cuda_emulator::detail {

struct Context {
#ifdef ONESTEP_EMULATOR_STACK_SWITCH
  void* stack_pointer = nullptr;
#else
  ucontext_t context;
#endif
};

// Prepares `context` to run entry() on [stack, stack + bytes); entry must never return. The stack
// may have held a fiber before: under AddressSanitizer the redzones of that fiber's frames, some
// of which never returned, are cleared first.
void make_context(Context& context, void* stack, size_t bytes, void (*entry)());
// Saves the running context in `from` and resumes `to`.
void switch_context(Context& from, Context& to);

}  // namespace cuda_emulator::detail
