/* opcodes.h: the bytecode. An instruction is 32 bits: the opcode in the
 * low 8 bits and either one 24-bit operand A (signed for jumps and small
 * ints) or an 8-bit B and a 16-bit A. The VM is a stack machine whose
 * locals live in slots at the bottom of each heap frame. */
#ifndef SL_OPCODES_H
#define SL_OPCODES_H

#define OPCODES(X) \
  X(NONE) X(INT) X(CONST) X(LOADL) X(STOREL) X(LOADG) X(STOREG) X(DECLG) \
  X(CONV) X(POP) X(ADD) X(SUB) X(MUL) X(DIV) X(IDIV) X(MOD) X(POW) \
  X(EQ) X(NE) X(LT) X(LE) X(GT) X(GE) X(NEG) X(NOT) X(JMP) X(JF) X(JT) \
  X(LOOP) X(CALL) X(RET) X(RET0) X(INDEX) X(INDEX2) X(SETINDEXL) \
  X(SETINDEXG) X(RANGE) X(MULTI) X(UNPACK) X(PRINT) X(DEFINEDG) X(KILLL) \
  X(KILLG) X(LAST) X(QUIT) X(LIB) X(ADDI) X(SUBI) X(LTI) X(LEI) X(GTI) \
  X(GEI) X(EQI) X(NEI) X(DEFAULT) X(CHECKU) X(WARN) X(INDEXL) \
  X(INITU) X(LOADGP) X(STOREGP) X(LOADGC) X(LOADGCP) X(NAMEVAL) X(STORENAME) \
  X(MEMBER) X(SETPATHL) X(SETPATHG) X(CONVDEF) X(HASU) X(KILLNAME) X(DEFINEDNAME) \
  X(DEFINEDL) X(QBIND) X(DECLNAME)

enum sl_opcode {
#define X(n) OP_##n,
  OPCODES(X)
#undef X
  OP_NOPS
};

#define INS_A(op, a) ((uint32_t)(op) | ((uint32_t)(a) << 8))
#define INS_AB(op, b, a) ((uint32_t)(op) | ((uint32_t)(b) << 8) | ((uint32_t)(a) << 16))
#define GET_OP(i) ((i) & 0xff)
#define GET_A(i) ((i) >> 8)
#define GET_SA(i) ((int32_t)(i) >> 8)
#define GET_B8(i) (((i) >> 8) & 0xff)
#define GET_A16(i) ((i) >> 16)
#define GET_SA16(i) ((int32_t)(i) >> 16)

#endif
