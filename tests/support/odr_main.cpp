// Linking two units that both include every header fails on any non-inline definition.
int odr_unit_one();
int odr_unit_two();
int main() { return odr_unit_one() + odr_unit_two() == 2 ? 0 : 1; }
