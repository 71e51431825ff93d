; bcast-store-setup.exe: a store PC's bcast, for Windows (x64). It installs subscriberd.exe in
; Program Files\bcast, writes %ProgramData%\bcast\subscriberd.json (Redis URL, store id, groups,
; sinks, language) with head office's public key beside it (signing.pub), and registers and
; starts the service bcast-subscriberd (subscriberd.exe --install-service checks the
; configuration first: a bad one installs no service). In English or Bahasa Indonesia.
;
; For a fleet, silently:
;   bcast-store-setup.exe /S /REDIS=rediss://user:pass@redis.hq.example:6380 /STORE=smg-01
;       /KEY=\\hq\bcast\signing.pub [/GROUPS=region:jateng,format:minimarket]
;       [/SINKS=win32,jsonl:C:\ProgramData\bcast\messages.jsonl] [/LANGUAGE=id] [/CAFILE=FILE]
; Exit status: 0 installed, 2 a missing or refused setting (the reason in
; %TEMP%\bcast-store-setup.log), 1 cancelled. The uninstaller (uninstall.exe /S) removes the service and the program and keeps
; %ProgramData%\bcast (the config and the store's position).
;
; Built by ./dev windows: makensis -DEXE=subscriberd.exe -DVERSION=x.y.z -DOUT=setup.exe

Unicode true
Target amd64-unicode
SetCompressor /SOLID lzma

!ifndef EXE | VERSION | OUT
  !error "usage: makensis -DEXE=subscriberd.exe -DVERSION=x.y.z -DOUT=bcast-store-setup.exe installer.nsi"
!endif

!include MUI2.nsh
!include FileFunc.nsh
!include LogicLib.nsh
!include nsDialogs.nsh
!include StrFunc.nsh
!include x64.nsh
${StrRep}

!define SERVICE "bcast-subscriberd"
!define UNINSTALL_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\bcast-store"

Name "bcast store ${VERSION}"
OutFile "${OUT}"
InstallDir "$PROGRAMFILES64\bcast"
RequestExecutionLevel admin
ManifestDPIAware true
ShowInstDetails show

Var Redis
Var Store
Var Groups
Var Key
Var Sinks
Var StoreLanguage
Var CaFile
Var DataDir
Var Field.Redis
Var Field.Store
Var Field.Groups
Var Field.Key

!define MUI_ABORTWARNING
!insertmacro MUI_PAGE_WELCOME
Page custom SettingsPage SettingsLeave
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "English"
!insertmacro MUI_LANGUAGE "Indonesian"

LangString SettingsTitle ${LANG_ENGLISH} "This store"
LangString SettingsTitle ${LANG_INDONESIAN} "Toko ini"
LangString SettingsText ${LANG_ENGLISH} "Where head office's messages come from, and who this store is."
LangString SettingsText ${LANG_INDONESIAN} "Dari mana pesan kantor pusat datang, dan siapa toko ini."
LangString LabelRedis ${LANG_ENGLISH} "Redis URL (rediss://user:password@host:port)"
LangString LabelRedis ${LANG_INDONESIAN} "URL Redis (rediss://user:sandi@host:port)"
LangString LabelStore ${LANG_ENGLISH} "Store id (e.g. smg-01)"
LangString LabelStore ${LANG_INDONESIAN} "Id toko (mis. smg-01)"
LangString LabelGroups ${LANG_ENGLISH} "Groups, comma separated (e.g. region:jateng)"
LangString LabelGroups ${LANG_INDONESIAN} "Grup, dipisah koma (mis. region:jateng)"
LangString LabelKey ${LANG_ENGLISH} "Head office's public key (signing.pub)"
LangString LabelKey ${LANG_INDONESIAN} "Kunci publik kantor pusat (signing.pub)"
LangString Missing ${LANG_ENGLISH} "Give the Redis URL, the store id and head office's public key."
LangString Missing ${LANG_INDONESIAN} "Isi URL Redis, id toko, dan kunci publik kantor pusat."
LangString NoKey ${LANG_ENGLISH} "Head office's public key cannot be read:"
LangString NoKey ${LANG_INDONESIAN} "Kunci publik kantor pusat tidak dapat dibaca:"
LangString Refused ${LANG_ENGLISH} "The settings were refused; the service is not installed. See the details."
LangString Refused ${LANG_INDONESIAN} "Pengaturan ditolak; layanan tidak dipasang. Lihat rinciannya."

; --- settings: from the command line (/S), or from the page ---

; FileFunc's GetOptions ends a value at the next "/", and a Redis URL has several: the command
; line $R0 is split into arguments here instead (blanks apart, unless quoted; quotes removed). For
; the option $R1 ("/REDIS="), $R2 is the value of its last appearance; the error flag is set when
; it is not there. Uses $R3 to $R9.
Function FindOption
  StrLen $R7 $R1
  StrCpy $R3 0   ; where in $R0
  StrCpy $R5 ""  ; the argument so far
  StrCpy $R6 0   ; in quotes
  SetErrors
  ${Do}
    StrCpy $R4 $R0 1 $R3
    StrCpy $R8 0  ; the argument ends here
    ${If} $R4 == ""
      StrCpy $R8 1
    ${ElseIf} $R4 == " "
      ${If} $R6 == 0
        StrCpy $R8 1
      ${Else}
        StrCpy $R5 "$R5$R4"
      ${EndIf}
    ${ElseIf} $R4 == '"'
      IntOp $R6 1 - $R6
    ${Else}
      StrCpy $R5 "$R5$R4"
    ${EndIf}
    ${If} $R8 == 1
      StrCpy $R9 $R5 $R7
      ${If} $R9 == $R1  ; (case aside, as Windows options go)
        StrCpy $R2 $R5 "" $R7
        ClearErrors
      ${EndIf}
      StrCpy $R5 ""
      ${IfThen} $R4 == "" ${|} ${ExitDo} ${|}
    ${EndIf}
    IntOp $R3 $R3 + 1
  ${Loop}
FunctionEnd

!macro Option NAME VAR DEFAULT
  StrCpy $R1 "/${NAME}="
  Call FindOption
  ${If} ${Errors}
    StrCpy ${VAR} "${DEFAULT}"
  ${Else}
    StrCpy ${VAR} $R2
  ${EndIf}
!macroend

; A setting the installer cannot go on without: silently, the reason goes to the log and the
; exit status is 2; on the page, a message box.
!macro Refuse TEXT
  ${If} ${Silent}
    DetailPrint "${TEXT}"
    FileOpen $R1 "$TEMP\bcast-store-setup.log" a
    FileSeek $R1 0 END
    FileWrite $R1 "bcast-store-setup: ${TEXT}$\r$\n"
    FileClose $R1
    SetErrorLevel 2
    Quit
  ${Else}
    MessageBox MB_OK|MB_ICONEXCLAMATION "${TEXT}"
  ${EndIf}
!macroend

Function .onInit
  ${IfNot} ${RunningX64}
    MessageBox MB_OK|MB_ICONSTOP "bcast needs 64-bit Windows." /SD IDOK
    SetErrorLevel 2
    Quit
  ${EndIf}
  SetRegView 64
  SetShellVarContext all
  StrCpy $DataDir "$APPDATA\bcast"
  ${GetParameters} $R0
  !insertmacro Option REDIS $Redis ""
  !insertmacro Option STORE $Store ""
  !insertmacro Option GROUPS $Groups ""
  !insertmacro Option KEY $Key ""
  !insertmacro Option SINKS $Sinks "win32"
  !insertmacro Option LANGUAGE $StoreLanguage ""
  !insertmacro Option CAFILE $CaFile ""
  ${If} $StoreLanguage == ""
    ; The store's language follows the installer's
    ${If} $LANGUAGE == ${LANG_INDONESIAN}
      StrCpy $StoreLanguage "id"
    ${Else}
      StrCpy $StoreLanguage "en"
    ${EndIf}
  ${EndIf}
  ${If} ${Silent}
    ${If} $Redis == ""
    ${OrIf} $Store == ""
    ${OrIf} $Key == ""
      !insertmacro Refuse "/REDIS=, /STORE= and /KEY= are needed"
    ${EndIf}
  ${Else}
    !insertmacro MUI_LANGDLL_DISPLAY
  ${EndIf}
FunctionEnd

Function SettingsPage
  !insertmacro MUI_HEADER_TEXT "$(SettingsTitle)" "$(SettingsText)"
  nsDialogs::Create 1018
  Pop $0
  ${NSD_CreateLabel} 0 0 100% 10u "$(LabelRedis)"
  ${NSD_CreateText} 0 11u 100% 12u "$Redis"
  Pop $Field.Redis
  ${NSD_CreateLabel} 0 28u 100% 10u "$(LabelStore)"
  ${NSD_CreateText} 0 39u 100% 12u "$Store"
  Pop $Field.Store
  ${NSD_CreateLabel} 0 56u 100% 10u "$(LabelGroups)"
  ${NSD_CreateText} 0 67u 100% 12u "$Groups"
  Pop $Field.Groups
  ${NSD_CreateLabel} 0 84u 100% 10u "$(LabelKey)"
  ${NSD_CreateFileRequest} 0 95u 100% 12u "$Key"
  Pop $Field.Key
  nsDialogs::Show
FunctionEnd

Function SettingsLeave
  ${NSD_GetText} $Field.Redis $Redis
  ${NSD_GetText} $Field.Store $Store
  ${NSD_GetText} $Field.Groups $Groups
  ${NSD_GetText} $Field.Key $Key
  ${If} $Redis == ""
  ${OrIf} $Store == ""
  ${OrIf} $Key == ""
    MessageBox MB_OK|MB_ICONEXCLAMATION "$(Missing)"
    Abort
  ${EndIf}
  ${IfNot} ${FileExists} $Key
    MessageBox MB_OK|MB_ICONEXCLAMATION "$(NoKey) $Key"
    Abort
  ${EndIf}
FunctionEnd

; --- the config file ---

; $R9 = $R9 as a JSON string's contents (backslash and quote escaped)
Function JsonEscape
  ${StrRep} $R9 $R9 "\" "\\"
  ${StrRep} $R9 $R9 '"' '\"'
FunctionEnd

; Writes to file handle $R8 the comma-separated list $R7 as the JSON array's items.
Function WriteJsonList
  StrCpy $R6 ""  ; the item so far
  StrCpy $R5 0   ; index
  StrCpy $R4 ""  ; separator
  ${Do}
    StrCpy $R3 $R7 1 $R5
    ${If} $R3 == ","
    ${OrIf} $R3 == ""
      ${If} $R6 != ""
        StrCpy $R9 $R6
        Call JsonEscape
        FileWrite $R8 '$R4"$R9"'
        StrCpy $R4 ", "
      ${EndIf}
      StrCpy $R6 ""
      ${IfThen} $R3 == "" ${|} ${ExitDo} ${|}
    ${Else}
      StrCpy $R6 "$R6$R3"
    ${EndIf}
    IntOp $R5 $R5 + 1
  ${Loop}
FunctionEnd

!macro JsonField NAME VALUE
  StrCpy $R9 "${VALUE}"
  Call JsonEscape
  FileWrite $R8 '  "${NAME}": "$R9",$\r$\n'
!macroend

Function WriteConfig
  FileOpen $R8 "$DataDir\subscriberd.json" w
  FileWrite $R8 "// Written by bcast-store-setup.exe ${VERSION}. subscriberd reads it at start:$\r$\n"
  FileWrite $R8 "// net stop ${SERVICE} && net start ${SERVICE} after a change.$\r$\n{$\r$\n"
  !insertmacro JsonField redis $Redis
  ${If} $CaFile != ""
    StrCpy $R9 "$DataDir\redis-ca.crt"
    Call JsonEscape
    FileWrite $R8 '  "redis_tls": {"ca_file": "$R9"},$\r$\n'
  ${EndIf}
  !insertmacro JsonField store $Store
  FileWrite $R8 '  "groups": ['
  StrCpy $R7 $Groups
  Call WriteJsonList
  FileWrite $R8 '],$\r$\n  "sinks": ['
  StrCpy $R7 $Sinks
  Call WriteJsonList
  FileWrite $R8 '],$\r$\n'
  !insertmacro JsonField language $StoreLanguage
  !insertmacro JsonField state_dir $DataDir
  StrCpy $R9 "$DataDir\signing.pub"
  Call JsonEscape
  FileWrite $R8 '  "trusted_keys": ["$R9"]$\r$\n}$\r$\n'
  FileClose $R8
FunctionEnd

Section "bcast store"
  SetRegView 64
  SetShellVarContext all
  SetOutPath "$INSTDIR"
  ; A running service holds subscriberd.exe: stop it before replacing it.
  nsExec::ExecToLog 'net stop ${SERVICE}'
  Pop $0
  File "/oname=subscriberd.exe" "${EXE}"
  CreateDirectory "$DataDir"
  ClearErrors
  CopyFiles /SILENT "$Key" "$DataDir\signing.pub"
  ${If} ${Errors}
    !insertmacro Refuse "$(NoKey) $Key"
    Abort
  ${EndIf}
  ${If} $CaFile != ""
    CopyFiles /SILENT "$CaFile" "$DataDir\redis-ca.crt"
  ${EndIf}
  Call WriteConfig
  DetailPrint "$DataDir\subscriberd.json"
  nsExec::ExecToStack '"$INSTDIR\subscriberd.exe" --install-service --config "$DataDir\subscriberd.json"'
  Pop $0
  Pop $1
  DetailPrint $1
  ${If} $0 != 0
    !insertmacro Refuse "$(Refused) $1"
    Abort
  ${EndIf}
  nsExec::ExecToLog 'net start ${SERVICE}'
  Pop $0
  WriteUninstaller "$INSTDIR\uninstall.exe"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "DisplayName" "bcast store"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "Publisher" "bcast"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
  WriteRegStr HKLM "${UNINSTALL_KEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
  WriteRegDWORD HKLM "${UNINSTALL_KEY}" "NoModify" 1
  WriteRegDWORD HKLM "${UNINSTALL_KEY}" "NoRepair" 1
SectionEnd

Function un.onInit
  SetRegView 64
  SetShellVarContext all
FunctionEnd

Section "Uninstall"
  nsExec::ExecToLog '"$INSTDIR\subscriberd.exe" --uninstall-service'
  Pop $0
  Delete "$INSTDIR\subscriberd.exe"
  Delete "$INSTDIR\uninstall.exe"
  RMDir "$INSTDIR"
  DeleteRegKey HKLM "${UNINSTALL_KEY}"
SectionEnd
