// SPDX-License-Identifier: MIT
/*
 * insn-mark start|stop: open or close a window of the instruction
 * profile (insn_profile.c) from a shell, around any command in the
 * guest: the window then counts every instruction of the whole guest,
 * every process and the kernel, until the stop.
 */
#include <stdio.h>
#include <string.h>
#include "insn-mark.h"

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "start")) {
		INSN_PROFILE_START();
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "stop")) {
		INSN_PROFILE_STOP();
		return 0;
	}
	fprintf(stderr, "usage: insn-mark start|stop\n");
	return 2;
}
