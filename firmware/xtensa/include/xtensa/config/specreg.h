/* Special register numbers (Xtensa ISA) the core's exception wrapper names: EPC_1 as the
 * HAL spells it; PS and SAR the assembler already knows by name. */
#ifndef FIRMWARE_XTENSA_SPECREG_H
#define FIRMWARE_XTENSA_SPECREG_H
#define EPC_1 177
#endif
