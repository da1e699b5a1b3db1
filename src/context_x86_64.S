/*
 * context_x86_64.S - the fiber switch (System V AMD64 ABI).
 *
 * Only what the ABI says a callee must preserve is saved: rbx, rbp,
 * r12-r15, the MXCSR control bits and the x87 control word. Everything
 * else is caller-saved, so the C caller already assumes it is clobbered.
 * No signal mask is touched (that is what makes swapcontext slow).
 *
 * Frame pushed on the stack being left (low to high):
 *   [mxcsr:4][x87cw:2][pad:2, zero] r15 r14 r13 r12 rbx rbp [return address]
 */
        .text

/* void sp__ctx_switch(void **save, void *new_sp) */
        .globl  sp__ctx_switch
        .hidden sp__ctx_switch
        .type   sp__ctx_switch, @function
sp__ctx_switch:
        .cfi_startproc
        pushq   %rbp
        pushq   %rbx
        pushq   %r12
        pushq   %r13
        pushq   %r14
        pushq   %r15
        pushq   $0
        stmxcsr (%rsp)
        fnstcw  4(%rsp)
        /* rebuild the slot in rax from loads of the same sizes as the
         * stores: one 8-byte load of the slot cannot be forwarded from
         * the 4- and 2-byte stores and waits for them to retire */
        movl    (%rsp), %eax
        movzwl  4(%rsp), %edx
        shlq    $32, %rdx
        orq     %rdx, %rax
        movq    %rsp, (%rdi)
        movq    %rsi, %rsp
        cmpq    (%rsp), %rax
        jne     2f
1:      addq    $8, %rsp
        popq    %r15
        popq    %r14
        popq    %r13
        popq    %r12
        popq    %rbx
        popq    %rbp
        ret
        /* loading MXCSR and the x87 control word stalls the pipeline:
         * only when the fiber we resume has other settings than ours */
2:      ldmxcsr (%rsp)
        fldcw   4(%rsp)
        jmp     1b
        .cfi_endproc
        .size   sp__ctx_switch, .-sp__ctx_switch

/* First code of a new fiber: realign and call sp__fiber_main, which
 * never returns. rbp is zero so unwinders stop here. */
        .globl  sp__ctx_boot
        .hidden sp__ctx_boot
        .type   sp__ctx_boot, @function
sp__ctx_boot:
        .cfi_startproc
        .cfi_undefined rip
        xorl    %ebp, %ebp
        andq    $-16, %rsp
        call    sp__fiber_main
        ud2
        .cfi_endproc
        .size   sp__ctx_boot, .-sp__ctx_boot

        .section .note.GNU-stack,"",@progbits
