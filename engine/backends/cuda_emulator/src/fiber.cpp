#include "fiber.h"

#include <cstdint>
#include <cstring>

#ifdef ONESTEP_EMULATOR_ASAN
#include <sanitizer/asan_interface.h>
#endif

#ifdef ONESTEP_EMULATOR_STACK_SWITCH

// onestep_emulator_switch(void** save, void* resume): pushes rbp, rbx, r12-r15 and MXCSR / the
// x87 control word, stores the stack pointer in *save, loads `resume` and pops the same.
asm(R"(
  .pushsection .text
  .p2align 4
  .globl onestep_emulator_switch
  .type onestep_emulator_switch, @function
onestep_emulator_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size onestep_emulator_switch, .-onestep_emulator_switch
  .popsection
)");

extern "C" void onestep_emulator_switch(void** save, void* resume);

namespace cuda_emulator::detail {

void make_context(Context& context, void* stack, size_t bytes, void (*entry)()) {
#ifdef ONESTEP_EMULATOR_ASAN
  __asan_unpoison_memory_region(stack, bytes);
#endif
  // The first switch pops six zero registers and the control words, then `ret`s into entry
  // with the stack aligned as after a call (rsp + 8 a multiple of 16).
  auto top = (reinterpret_cast<uintptr_t>(stack) + bytes) & ~uintptr_t{15};
  auto* slots = reinterpret_cast<uint64_t*>(top - 16);
  slots[0] = reinterpret_cast<uint64_t>(entry);  // the return address of the first switch
  slots[1] = 0;                                  // entry's own return address: never used
  uint64_t* frame = slots - 7;                   // 6 registers + the control-word slot
  std::memset(frame, 0, 7 * sizeof(uint64_t));
  uint32_t mxcsr;
  uint16_t fpu_control;
  asm volatile("stmxcsr %0" : "=m"(mxcsr));
  asm volatile("fnstcw %0" : "=m"(fpu_control));
  std::memcpy(reinterpret_cast<char*>(frame), &mxcsr, sizeof mxcsr);
  std::memcpy(reinterpret_cast<char*>(frame) + 4, &fpu_control, sizeof fpu_control);
  context.stack_pointer = frame;
}

void switch_context(Context& from, Context& to) {
  onestep_emulator_switch(&from.stack_pointer, to.stack_pointer);
}

}  // namespace cuda_emulator::detail

#else

namespace cuda_emulator::detail {

void make_context(Context& context, void* stack, size_t bytes, void (*entry)()) {
#ifdef ONESTEP_EMULATOR_ASAN
  __asan_unpoison_memory_region(stack, bytes);
#endif
  getcontext(&context.context);
  context.context.uc_stack.ss_sp = stack;
  context.context.uc_stack.ss_size = bytes;
  context.context.uc_link = nullptr;
  makecontext(&context.context, entry, 0);
}

void switch_context(Context& from, Context& to) {
  swapcontext(&from.context, &to.context);
}

}  // namespace cuda_emulator::detail

#endif
