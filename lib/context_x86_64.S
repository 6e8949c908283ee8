/* SPDX-License-Identifier: (LGPL-2.1-or-later OR MIT) */
/*
 * context_x86_64.S - the goroutine context switch (System V x86_64 ABI).
 *
 * A switch is a function call, so only what the ABI says a callee must
 * preserve is saved: rbx, rbp, r12-r15, the MXCSR control bits and the x87
 * control word. They are pushed on the old stack, whose final rsp is stored
 * in *save_sp; the new stack is entered by popping the same frame from
 * new_sp. A frame, from the saved rsp upwards:
 *
 *	+0  MXCSR (4 bytes), x87 control word (2 bytes), pad
 *	+8  r15  +16 r14  +24 r13  +32 r12  +40 rbx  +48 rbp
 *	+56 return address
 */

#ifdef __CET__
#define ENDBR	endbr64
#else
#define ENDBR
#endif

	.text

/* void __gmp_ctx_switch(void **save_sp, void *new_sp) */
	.globl	__gmp_ctx_switch
	.hidden	__gmp_ctx_switch
	.type	__gmp_ctx_switch, @function
	.p2align 4
__gmp_ctx_switch:
	.cfi_startproc
	ENDBR
	pushq	%rbp
	.cfi_adjust_cfa_offset 8
	pushq	%rbx
	.cfi_adjust_cfa_offset 8
	pushq	%r12
	.cfi_adjust_cfa_offset 8
	pushq	%r13
	.cfi_adjust_cfa_offset 8
	pushq	%r14
	.cfi_adjust_cfa_offset 8
	pushq	%r15
	.cfi_adjust_cfa_offset 8
	subq	$8, %rsp
	.cfi_adjust_cfa_offset 8
	stmxcsr	(%rsp)
	fnstcw	4(%rsp)
	movq	%rsp, (%rdi)
	movq	%rsi, %rsp
	ldmxcsr	(%rsp)
	fldcw	4(%rsp)
	addq	$8, %rsp
	.cfi_adjust_cfa_offset -8
	popq	%r15
	.cfi_adjust_cfa_offset -8
	popq	%r14
	.cfi_adjust_cfa_offset -8
	popq	%r13
	.cfi_adjust_cfa_offset -8
	popq	%r12
	.cfi_adjust_cfa_offset -8
	popq	%rbx
	.cfi_adjust_cfa_offset -8
	popq	%rbp
	.cfi_adjust_cfa_offset -8
	ret
	.cfi_endproc
	.size	__gmp_ctx_switch, .-__gmp_ctx_switch

/*
 * First "return" of a new goroutine: r12 holds the C entry function. The
 * call keeps the ABI's alignment (rsp is 16-byte aligned here, see
 * __gmp_ctx_init); the entry never returns.
 */
	.globl	__gmp_ctx_entry
	.hidden	__gmp_ctx_entry
	.type	__gmp_ctx_entry, @function
	.p2align 4
__gmp_ctx_entry:
	.cfi_startproc
	.cfi_undefined rip
	ENDBR
	xorl	%ebp, %ebp
	callq	*%r12
	ud2
	.cfi_endproc
	.size	__gmp_ctx_entry, .-__gmp_ctx_entry

	.section .note.GNU-stack,"",@progbits
