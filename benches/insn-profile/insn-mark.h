/* SPDX-License-Identifier: MIT */
/*
 * Markers for benches/insn-profile: the plugin counts the instructions
 * the guest executes between INSN_PROFILE_START() and INSN_PROFILE_STOP(),
 * TB by TB, kernel and user. Each marker is a 7-byte NOP (nopl
 * disp32(%rax)) whose displacement the plugin recognises; on a machine
 * without the plugin it does nothing.
 */
#ifndef INSN_MARK_H
#define INSN_MARK_H

#define INSN_PROFILE_START() \
	__asm__ volatile(".byte 0x0f, 0x1f, 0x80, 0x01, 0x56, 0x45, 0x4b" ::: "memory")
#define INSN_PROFILE_STOP() \
	__asm__ volatile(".byte 0x0f, 0x1f, 0x80, 0x02, 0x56, 0x45, 0x4b" ::: "memory")

#endif
